package disruption

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// node is one of Kerf's nodes as disruption sees it.
type node struct {
	node        *corev1.Node
	machine     *v1alpha5.Machine
	provisioner *provisioner
	info        consolidation.NodeInfo
	// pods counts the pods a drain would evict: not DaemonSet, mirror, finished or leaving pods.
	pods int
	// disrupting: deleting, or chosen by a command (it carries the disruption taint).
	disrupting bool
}

// provisioner is a Provisioner with its budget and how many of its nodes are being disrupted.
type provisioner struct {
	*v1alpha5.Provisioner
	budget     Budget
	total      int
	disrupting int
}

// allowed is how many more of the Provisioner's nodes a method may start disrupting now;
// methodDefault is the method's own pace when the Provisioner sets no budget (negative: none). A
// budget replaces every method's pace: it is the user's answer to "how many at once".
func (p *provisioner) allowed(now time.Time, methodDefault int) int {
	if p.budget.capped {
		methodDefault = -1
	}
	return p.budget.Allowed(now, p.total, p.disrupting, methodDefault)
}

// view is the cluster as one pass sees it.
type view struct {
	now          time.Time
	input        consolidation.Input
	nodes        []*node // Kerf's nodes, by name
	provisioners map[string]*provisioner
	// launching counts Machines not initialized yet, deleting Kerf's nodes being drained, and
	// settling the pods marked unschedulable so recently that provisioning has yet to act; each
	// only for a while (see the settle constants).
	launching, deleting, settling int
}

// How long the cluster counts as still changing. Each bounds a wait that one stuck object could
// otherwise make endless for every node of the cluster.
const (
	// pendingSettle: a pod the kube-scheduler could not place; past it, provisioning has had its
	// batch, and a pod no Provisioner can hold must not hold up every removal.
	pendingSettle = time.Minute
	// launchSettle: a Machine not initialized yet; the registration TTL deletes one that never
	// registers, but one whose node never becomes ready stays.
	launchSettle = 15 * time.Minute
	// drainSettle: a node being drained; its evicted pods need room soon, but a drain a
	// PodDisruptionBudget holds up can last indefinitely.
	drainSettle = 5 * time.Minute
)

// view builds the picture of the cluster one pass works from; nodes in exempt are shown without
// the disruption taint, as if the command that tainted them had not been chosen.
func (c *Controller) view(ctx context.Context, exempt map[string]bool) (*view, error) {
	snap, err := c.cluster.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("building snapshot, %w", err)
	}
	var (
		nodes        corev1.NodeList
		machines     v1alpha5.MachineList
		provisioners v1alpha5.ProvisionerList
		pdbs         policyv1.PodDisruptionBudgetList
		pods         corev1.PodList
	)
	for _, list := range []client.ObjectList{&nodes, &machines, &provisioners, &pdbs, &pods} {
		if err := c.kube.List(ctx, list); err != nil {
			return nil, fmt.Errorf("listing %T, %w", list, err)
		}
	}
	v := &view{now: c.clock.Now(), provisioners: map[string]*provisioner{}}
	for i := range provisioners.Items {
		p := &provisioners.Items[i]
		budget, errs := ParseBudget(p.Annotations)
		c.reportBudgetErrors(p, errs)
		v.provisioners[p.Name] = &provisioner{Provisioner: p, budget: budget}
	}
	for _, pod := range snap.Pods {
		if cond := state.PodScheduled(pod); cond != nil && v.now.Sub(cond.LastTransitionTime.Time) < pendingSettle {
			v.settling++
		}
	}
	byProviderID := map[string]*v1alpha5.Machine{}
	for i := range machines.Items {
		m := &machines.Items[i]
		if m.Status.ProviderID != "" {
			byProviderID[m.Status.ProviderID] = m
		}
		if m.DeletionTimestamp == nil && !v1alpha5.IsConditionTrue(m.Status.Conditions, v1alpha5.MachineInitialized) &&
			v.now.Sub(m.CreationTimestamp.Time) < launchSettle {
			v.launching++
		}
	}
	nominated := map[string]bool{}
	for i := range pods.Items {
		if name := pods.Items[i].Status.NominatedNodeName; name != "" && pods.Items[i].Spec.NodeName == "" {
			nominated[name] = true
		}
	}
	evictable := evictablePods(pods.Items)
	for i := range nodes.Items {
		n := c.node(v, &nodes.Items[i], byProviderID, evictable, nominated)
		if n == nil {
			continue
		}
		v.nodes = append(v.nodes, n)
		if n.node.DeletionTimestamp != nil && v.now.Sub(n.node.DeletionTimestamp.Time) < drainSettle {
			v.deleting++
		}
		n.provisioner.total++
		if n.disrupting {
			n.provisioner.disrupting++
		}
	}
	sort.Slice(v.nodes, func(i, j int) bool { return v.nodes[i].node.Name < v.nodes[j].node.Name })
	v.input = c.input(snap, v, pdbs.Items, exempt)
	return v, nil
}

// node returns the disruption view of a Node, nil for a node no Provisioner launched.
func (c *Controller) node(v *view, n *corev1.Node, machines map[string]*v1alpha5.Machine, evictable map[string]int, nominated map[string]bool) *node {
	p := v.provisioners[n.Labels[v1alpha5.ProvisionerNameLabelKey]]
	if p == nil {
		return nil
	}
	m := machines[n.Spec.ProviderID]
	if m == nil || !controllerutil.ContainsFinalizer(n, v1alpha5.TerminationFinalizer) {
		// Not (yet) Kerf's to remove: without the termination finalizer a deleted Node would go
		// at once, its pods unevicted and its instance still running.
		return nil
	}
	deleting := n.DeletionTimestamp != nil || m.DeletionTimestamp != nil
	out := &node{node: n, machine: m, provisioner: p, pods: evictable[n.Name],
		disrupting: deleting || hasDisruptionTaint(n)}
	out.info = consolidation.NodeInfo{
		Name:             n.Name,
		Provisioner:      p.Name,
		CapacityType:     n.Labels[v1alpha5.CapacityTypeLabelKey],
		Initialized:      n.Labels[v1alpha5.LabelNodeInitialized] == "true",
		Deleting:         deleting,
		DoNotConsolidate: n.Annotations[v1alpha5.DoNotConsolidateNodeAnnotationKey] == "true",
		Nominated:        nominated[n.Name],
		Created:          n.CreationTimestamp.Time,
		ExpiresAt:        c.expiresAt(n, p.Provisioner),
	}
	return out
}

// expiresAt is when ttlSecondsUntilExpired replaces the node, zero when never. With a jitter, each
// node expires up to that much earlier, by a fraction fixed by its name, so nodes launched
// together are not all replaced together (and none lives past its TTL).
func (c *Controller) expiresAt(n *corev1.Node, p *v1alpha5.Provisioner) time.Time {
	if p.Spec.TTLSecondsUntilExpired == nil {
		return time.Time{}
	}
	at := n.CreationTimestamp.Add(time.Duration(*p.Spec.TTLSecondsUntilExpired) * time.Second)
	if c.opts.ExpiryJitter > 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(n.Name))
		at = at.Add(-time.Duration(float64(c.opts.ExpiryJitter) * float64(h.Sum64()%1000) / 1000))
	}
	return at
}

// evictablePods counts, per node, the pods a drain would evict.
func evictablePods(pods []corev1.Pod) map[string]int {
	out := map[string]int{}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || podutil.IsTerminal(p) || podutil.IsMirror(p) || podutil.IsOwnedByDaemonSet(p) {
			continue
		}
		out[p.Spec.NodeName]++
	}
	return out
}

// input is the consolidation engine's picture: the snapshot without pending pods (those are
// provisioning's), each Kerf node's price and state, the PodDisruptionBudgets and which
// Provisioners consolidate.
func (c *Controller) input(snap scheduling.Snapshot, v *view, pdbs []policyv1.PodDisruptionBudget, exempt map[string]bool) consolidation.Input {
	snap.Pods = nil
	snap.Nodes = append([]scheduling.Node(nil), snap.Nodes...)
	for i := range snap.Nodes {
		if exempt[snap.Nodes[i].Name] {
			snap.Nodes[i].Taints = withoutDisruptionTaint(snap.Nodes[i].Taints)
		}
	}
	in := consolidation.Input{Cluster: snap, Options: c.opts.Consolidation}
	prices := priceIndex(snap.Provisioners)
	for _, n := range v.nodes {
		// Kept on the view's node too: emptiness and revalidation count what removing it saves.
		n.info.Price = prices.of(n.provisioner.Name, n.node.Labels)
		in.Nodes = append(in.Nodes, n.info)
	}
	names := make([]string, 0, len(v.provisioners))
	for name := range v.provisioners {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := v.provisioners[name]
		if p.DeletionTimestamp != nil {
			continue
		}
		info := consolidation.ProvisionerInfo{Name: name,
			Enabled: p.Spec.Consolidation != nil && p.Spec.Consolidation.Enabled != nil && *p.Spec.Consolidation.Enabled}
		if !p.budget.Open(v.now) || (p.budget.capped && p.allowed(v.now, defaultConsolidationCap) == 0) {
			// The engine plans every command around these nodes, so one Provisioner's spent
			// budget never stops the others' commands.
			info.Blocked = budgetReason(p, v.now).message
		}
		in.Provisioners = append(in.Provisioners, info)
	}
	for i := range pdbs {
		selector, err := metav1.LabelSelectorAsSelector(pdbs[i].Spec.Selector)
		if err != nil {
			continue // the disruption controller refuses it too; it protects nothing
		}
		in.Budgets = append(in.Budgets, consolidation.Budget{Namespace: pdbs[i].Namespace, Selector: selector,
			Allowed: pdbs[i].Status.DisruptionsAllowed})
	}
	return in
}

// prices finds what a node costs from its Provisioner's instance types: the offering of its
// instance type in its zone and capacity type.
type prices map[string]map[string]*scheduling.InstanceType

func priceIndex(provisioners []scheduling.Provisioner) prices {
	out := prices{}
	for _, p := range provisioners {
		out[p.Name] = map[string]*scheduling.InstanceType{}
		for _, it := range p.InstanceTypes {
			out[p.Name][it.Name] = it
		}
	}
	return out
}

func (p prices) of(provisioner string, labels map[string]string) float64 {
	it := p[provisioner][labels[v1alpha5.LabelInstanceType]]
	if it == nil {
		return 0
	}
	for _, o := range it.Offerings {
		if o.Zone == labels[v1alpha5.LabelTopologyZone] && o.CapacityType == labels[v1alpha5.CapacityTypeLabelKey] {
			return o.Price
		}
	}
	return 0
}
