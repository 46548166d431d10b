package disruption

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Drift reasons found from the Provisioner; the cloud provider finds the others (image, security
// groups, subnet, node template).
const (
	// DriftProvisionerStatic: a static field of the Provisioner (labels, annotations, taints,
	// startup taints, kubelet configuration, node template reference) changed since the launch.
	DriftProvisionerStatic = "ProvisionerStaticDrift"
	// DriftRequirements: the node has a label value its Provisioner's requirements no longer
	// allow (an instance type, zone or capacity type taken out of them).
	DriftRequirements = "RequirementsDrift"
)

// driftRecheck is how long the cloud provider's answer for a Machine is reused: asking resolves
// the node template and reads the instance, which a pass every 10 s over every node would repeat
// for nothing.
const driftRecheck = time.Minute

type driftEntry struct {
	reason string
	at     time.Time
}

type driftCache struct {
	mu      sync.Mutex
	entries map[string]driftEntry // by Machine UID
}

// drifted returns why the node no longer matches what Kerf would launch now, empty when it does.
func (c *Controller) drifted(ctx context.Context, n *node) string {
	if reason := provisionerDrift(n); reason != "" {
		return reason
	}
	key := string(n.machine.UID)
	c.drifts.mu.Lock()
	entry, ok := c.drifts.entries[key]
	c.drifts.mu.Unlock()
	if ok && c.clock.Since(entry.at) < driftRecheck {
		return entry.reason
	}
	reason, err := c.cloud.IsDrifted(ctx, n.machine)
	if err != nil {
		// Not knowing is not drift. The answer is kept like any other, so a failing check is
		// logged once per recheck interval, not on every pass.
		log.FromContext(ctx).Error(err, "checking drift failed", "Node", klog.KObj(n.node))
		reason = ""
	}
	c.drifts.mu.Lock()
	c.drifts.entries[key] = driftEntry{reason: string(reason), at: c.clock.Now()}
	c.drifts.mu.Unlock()
	return string(reason)
}

// provisionerDrift compares the node with its Provisioner as it is now.
func provisionerDrift(n *node) string {
	if n.provisioner.StaticFieldsDrifted(n.machine.Annotations) {
		return DriftProvisionerStatic
	}
	for _, spec := range n.provisioner.Spec.Requirements {
		r := spec.ToCore()
		value, ok := n.node.Labels[r.Key]
		if !ok {
			continue
		}
		req, err := scheduling.NewRequirement(r.Key, r.Operator, r.Values...)
		if err != nil {
			continue
		}
		if !req.Has(value) {
			return DriftRequirements
		}
	}
	return ""
}

// forget drops cached answers of Machines no longer in the cluster.
func (d *driftCache) forget(live map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for uid := range d.entries {
		if !live[uid] {
			delete(d.entries, uid)
		}
	}
}
