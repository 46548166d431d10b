package state

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Cluster builds Snapshots of the cluster.
type Cluster struct {
	kube        client.Reader
	cloud       cloudprovider.CloudProvider
	defaults    DefaultRequirements
	unavailable OfferingAvailability
	recorder    events.EventRecorder
}

// OfferingAvailability says which capacity pools recently ran out (an insufficient-capacity error
// on launch), so the next Solve plans around them.
type OfferingAvailability interface {
	IsUnavailable(instanceType, zone, capacityType string) bool
}

// NewCluster reads through kube (the manager's cache in production) and asks cloud for each
// Provisioner's instance types; defaults are the cloud's meaning of open requirement keys;
// unavailable, when not nil, marks offerings that recently failed for lack of capacity.
func NewCluster(kube client.Reader, cloud cloudprovider.CloudProvider, defaults DefaultRequirements, unavailable OfferingAvailability,
	recorder events.EventRecorder) *Cluster {
	return &Cluster{kube: kube, cloud: cloud, defaults: defaults, unavailable: unavailable, recorder: recorder}
}

// Snapshot returns everything one scheduling decision depends on, as of now.
func (c *Cluster) Snapshot(ctx context.Context) (scheduling.Snapshot, error) {
	var (
		pods         corev1.PodList
		nodes        corev1.NodeList
		machines     v1alpha5.MachineList
		provisioners v1alpha5.ProvisionerList
		daemonSets   appsv1.DaemonSetList
		namespaces   corev1.NamespaceList
		claims       corev1.PersistentVolumeClaimList
		volumes      corev1.PersistentVolumeList
		classes      storagev1.StorageClassList
		csiNodes     storagev1.CSINodeList
	)
	for _, list := range []client.ObjectList{&pods, &nodes, &machines, &provisioners, &daemonSets, &namespaces, &claims, &volumes, &classes, &csiNodes} {
		if err := c.kube.List(ctx, list); err != nil {
			return scheduling.Snapshot{}, fmt.Errorf("listing %T, %w", list, err)
		}
	}
	snap := scheduling.Snapshot{
		Nodes:                  clusterNodes(nodes.Items, machines.Items, pods.Items, volumeLimits(csiNodes.Items)),
		DaemonSetPods:          daemonSetPods(daemonSets.Items),
		PersistentVolumeClaims: pointers(claims.Items),
		PersistentVolumes:      pointers(volumes.Items),
		StorageClasses:         pointers(classes.Items),
	}
	for i := range pods.Items {
		if IsProvisionable(&pods.Items[i]) {
			snap.Pods = append(snap.Pods, &pods.Items[i])
		}
	}
	for _, ns := range namespaces.Items {
		snap.Namespaces = append(snap.Namespaces, scheduling.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	usage := ProvisionerUsage(nodes.Items, machines.Items)
	var failed []error
	for i := range provisioners.Items {
		p := &provisioners.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		view, err := c.provisioner(ctx, p, usage[p.Name])
		if err != nil {
			// One broken Provisioner (a missing AWSNodeTemplate, say) must not stop the others
			// from provisioning; it is left out of this Snapshot, with an Event where its owner
			// looks (the recorder folds repeats from batch after batch into one Event).
			log.FromContext(ctx).Error(err, "leaving provisioner out of the snapshot", "Provisioner", klog.KObj(p))
			if c.recorder != nil {
				c.recorder.Eventf(p, nil, corev1.EventTypeWarning, EventProvisionerUnavailable, "Snapshot",
					"Left out of provisioning: %s", stableCause(err))
			}
			failed = append(failed, err)
			continue
		}
		snap.Provisioners = append(snap.Provisioners, view)
	}
	if len(snap.Provisioners) == 0 && len(failed) > 0 {
		return scheduling.Snapshot{}, &ProvisionersUnavailableError{Errs: failed}
	}
	return snap, nil
}

// EventProvisionerUnavailable is the reason of the Event on a Provisioner whose instance types
// could not be read (a missing AWSNodeTemplate, say), so no pod is provisioned for through it.
const EventProvisionerUnavailable = "ProvisionerUnavailable"

// ProvisionersUnavailableError says no Provisioner could be read into a Snapshot.
type ProvisionersUnavailableError struct{ Errs []error }

func (e *ProvisionersUnavailableError) Error() string {
	return fmt.Sprintf("no provisioner is usable, %v", errors.Join(e.Errs...))
}

func (e *ProvisionersUnavailableError) Unwrap() []error { return e.Errs }

func (c *Cluster) provisioner(ctx context.Context, p *v1alpha5.Provisioner, usage corev1.ResourceList) (scheduling.Provisioner, error) {
	instanceTypes, err := c.cloud.GetInstanceTypes(ctx, p)
	if err != nil {
		return scheduling.Provisioner{}, fmt.Errorf("getting instance types for provisioner %s, %w", p.Name, err)
	}
	return Provisioner(p, c.withAvailability(instanceTypes), usage, c.defaults)
}

// clusterNodes returns registered nodes with their bound pods, then Machines still launching as
// in-flight nodes.
func clusterNodes(nodes []corev1.Node, machines []v1alpha5.Machine, pods []corev1.Pod, limits map[string]map[string]int32) []scheduling.Node {
	bound := map[string][]*corev1.Pod{}
	for i := range pods {
		if p := &pods[i]; p.Spec.NodeName != "" && !podutil.IsTerminal(p) {
			bound[p.Spec.NodeName] = append(bound[p.Spec.NodeName], p)
		}
	}
	startupTaints := map[string][]corev1.Taint{} // by provider ID
	registered := map[string]bool{}
	for _, n := range nodes {
		registered[n.Spec.ProviderID] = n.Spec.ProviderID != ""
	}
	var out []scheduling.Node
	for i := range machines {
		m := &machines[i]
		startupTaints[m.Status.ProviderID] = m.Spec.StartupTaints
		if m.DeletionTimestamp != nil || (m.Status.ProviderID != "" && registered[m.Status.ProviderID]) {
			continue
		}
		out = append(out, inFlightNode(m))
	}
	for i := range nodes {
		n := &nodes[i]
		if n.DeletionTimestamp != nil || n.Spec.Unschedulable {
			continue
		}
		out = append(out, scheduling.Node{
			Name:         n.Name,
			Labels:       n.Labels,
			Taints:       schedulableTaints(n, startupTaints[n.Spec.ProviderID]),
			Allocatable:  n.Status.Allocatable,
			Pods:         bound[n.Name],
			VolumeLimits: limits[n.Name],
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// schedulableTaints leaves out the taints that are about to go away on a node Kerf is still
// initializing: its startup taints, the node lifecycle controller's not-ready and unreachable
// taints (a new node is Unknown until its kubelet reports) and the cloud controller manager's
// uninitialized taint. Pods planned there need not tolerate them.
func schedulableTaints(n *corev1.Node, startup []corev1.Taint) []corev1.Taint {
	if n.Labels[v1alpha5.LabelNodeInitialized] == "true" || n.Labels[v1alpha5.ProvisionerNameLabelKey] == "" {
		return n.Spec.Taints
	}
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if IsEphemeralTaint(t) || containsTaint(startup, t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// taintUninitialized is the cloud controller manager's taint, removed once it has initialized the
// node (k8s.io/cloud-provider/api.TaintExternalCloudProvider, not worth the dependency).
const taintUninitialized = "node.cloudprovider.kubernetes.io/uninitialized"

// IsEphemeralTaint reports whether t is one the node lifecycle controller, the cloud controller
// manager or Kerf removes on its own once a new node is up: not-ready, unreachable, uninitialized,
// and Kerf's batch gate.
func IsEphemeralTaint(t corev1.Taint) bool {
	switch t.Key {
	case corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, taintUninitialized, v1alpha5.BatchGateTaintKey:
		return true
	}
	return false
}

func containsTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for _, s := range taints {
		if s.MatchTaint(&t) {
			return true
		}
	}
	return false
}

// inFlightNode models a launching Machine: its labels, its requirements with a single value as
// labels (zone, instance type, capacity type once known), and what it will offer. Before launch
// the Machine's requests stand in for allocatable: the instance is chosen to hold at least that.
func inFlightNode(m *v1alpha5.Machine) scheduling.Node {
	labels := map[string]string{}
	for _, r := range m.Spec.Requirements {
		if r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
			labels[r.Key] = r.Values[0]
		}
	}
	for k, v := range m.Labels {
		labels[k] = v
	}
	allocatable := m.Status.Allocatable
	if len(allocatable) == 0 {
		allocatable = m.Spec.Resources.Requests
	}
	return scheduling.Node{Name: m.Name, Labels: labels, Taints: m.Spec.Taints, Allocatable: allocatable, InFlight: true}
}

// ProvisionerUsage sums the capacity of each Provisioner's nodes and of its Machines not yet
// registered, so limits count capacity that is on its way.
func ProvisionerUsage(nodes []corev1.Node, machines []v1alpha5.Machine) map[string]corev1.ResourceList {
	usage := map[string]corev1.ResourceList{}
	add := func(provisioner string, capacity corev1.ResourceList) {
		if provisioner != "" {
			usage[provisioner] = scheduling.AddResources(usage[provisioner], capacity)
		}
	}
	registered := map[string]bool{}
	for _, n := range nodes {
		registered[n.Spec.ProviderID] = n.Spec.ProviderID != ""
		add(n.Labels[v1alpha5.ProvisionerNameLabelKey], n.Status.Capacity)
	}
	for _, m := range machines {
		if m.Status.ProviderID != "" && registered[m.Status.ProviderID] {
			continue
		}
		capacity := m.Status.Capacity
		if len(capacity) == 0 {
			capacity = m.Spec.Resources.Requests
		}
		add(m.Labels[v1alpha5.ProvisionerNameLabelKey], capacity)
	}
	return usage
}

// daemonSetPods returns one pod per DaemonSet, from its template.
func daemonSetPods(daemonSets []appsv1.DaemonSet) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(daemonSets))
	for _, ds := range daemonSets {
		pod := &corev1.Pod{ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(), Spec: *ds.Spec.Template.Spec.DeepCopy()}
		pod.Namespace, pod.Name = ds.Namespace, ds.Name
		out = append(out, pod)
	}
	return out
}

// volumeLimits reads how many volumes each CSI driver may attach, per node, from CSINode objects
// (named after their node). Drivers that publish no count are left unknown: unknown is unlimited.
func volumeLimits(csiNodes []storagev1.CSINode) map[string]map[string]int32 {
	out := map[string]map[string]int32{}
	for _, n := range csiNodes {
		for _, d := range n.Spec.Drivers {
			if d.Allocatable == nil || d.Allocatable.Count == nil {
				continue
			}
			if out[n.Name] == nil {
				out[n.Name] = map[string]int32{}
			}
			out[n.Name][d.Name] = *d.Allocatable.Count
		}
	}
	return out
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// withAvailability returns the instance types with recently exhausted offerings marked
// unavailable.
func (c *Cluster) withAvailability(instanceTypes []*scheduling.InstanceType) []*scheduling.InstanceType {
	if c.unavailable == nil {
		return instanceTypes
	}
	return scheduling.WithoutOfferings(instanceTypes, c.unavailable.IsUnavailable)
}

// requestID matches the request ID AWS errors carry, different on every call.
var requestID = regexp.MustCompile(`RequestID: [0-9A-Za-z-]+, `)

// stableCause is err's message without per-call request IDs, so the same failure batch after
// batch is one Event counted again, not a new Event each time.
func stableCause(err error) string { return requestID.ReplaceAllString(err.Error(), "") }
