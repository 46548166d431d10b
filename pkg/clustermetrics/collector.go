// Package clustermetrics publishes what Karpenter v0.31 published about the cluster's nodes and
// pods (karpenter_nodes_allocatable, karpenter_nodes_total_pod_requests, karpenter_pods_state and
// the rest), under v0.31's names and labels so its dashboards keep working. The values are read
// from the informer cache when Prometheus scrapes, so a deleted node or pod has no stale series.
package clustermetrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	podresource "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// listTimeout bounds a scrape's reads of the cache.
const listTimeout = 5 * time.Second

// notApplicable is the value v0.31 gave a label whose node label or node is missing.
const notApplicable = "N/A"

// Collector is a prometheus.Collector over the cluster's Nodes and Pods.
type Collector struct {
	reader  client.Reader
	leading func() bool
	// wellKnown are the node labels the node gauges carry, each under its metric label name
	// (topology.kubernetes.io/zone as zone, karpenter.sh/provisioner-name as provisioner_name),
	// in the order of nodeLabelNames.
	wellKnown                                                                             []string
	allocatable, overhead, podRequests, podLimits, daemonRequests, daemonLimits, podState *prometheus.Desc
	nodeLabelNames, podLabelNames                                                         []string
}

// New returns a Collector reading from reader (the manager's cache). leading reports whether this
// replica leads: only the leader publishes, so two scraped replicas do not double every sum.
func New(reader client.Reader, leading func() bool) *Collector {
	c := &Collector{reader: reader, leading: leading}
	// v0.31's well-known labels included the Provisioner's own, as provisioner_name.
	seen := map[string]bool{"node_name": true, "provisioner": true, "phase": true, "resource_type": true}
	for _, l := range append([]string{v1alpha5.ProvisionerNameLabelKey}, v1alpha5.WellKnownLabels()...) {
		if name := promLabel(l); !seen[name] {
			seen[name] = true
			c.wellKnown = append(c.wellKnown, l)
			c.nodeLabelNames = append(c.nodeLabelNames, name)
		}
	}
	c.nodeLabelNames = append(c.nodeLabelNames, "node_name", "provisioner", "phase", "resource_type")
	node := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("karpenter_nodes_"+name, help, c.nodeLabelNames, nil)
	}
	c.allocatable = node("allocatable", "Resources a node offers pods (its status.allocatable).")
	c.overhead = node("system_overhead", "Resources a node keeps for the system: its capacity less its allocatable.")
	c.podRequests = node("total_pod_requests", "Resources requested by the non-DaemonSet pods bound to a node.")
	c.podLimits = node("total_pod_limits", "Resource limits of the non-DaemonSet pods bound to a node.")
	c.daemonRequests = node("total_daemon_requests", "Resources requested by the DaemonSet pods bound to a node.")
	c.daemonLimits = node("total_daemon_limits", "Resource limits of the DaemonSet pods bound to a node.")
	c.podLabelNames = []string{"name", "namespace", "owner", "node", "provisioner", "zone", "arch", "capacity_type", "instance_type", "phase"}
	c.podState = prometheus.NewDesc("karpenter_pods_state", "Every pod, always 1, labelled with its phase and its node's provisioner, zone, architecture, capacity type and instance type.",
		c.podLabelNames, nil)
	return c
}

// promLabel names a node label as v0.31's metrics did: the part after the slash, lower case,
// dashes as underscores (karpenter.k8s.aws/instance-family is instance_family).
func promLabel(l string) string {
	if _, name, ok := strings.Cut(l, "/"); ok {
		l = name
	}
	return snakeCase(l)
}

// snakeCase lower-cases s and turns its dashes into underscores, as v0.31 wrote label names.
func snakeCase(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// ResourceType is the resource_type label of a resource in every metric, in snake case as
// Karpenter v0.31 wrote it (ephemeral-storage is ephemeral_storage).
func ResourceType(r corev1.ResourceName) string { return snakeCase(string(r)) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.allocatable, c.overhead, c.podRequests, c.podLimits, c.daemonRequests, c.daemonLimits, c.podState} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass over the cached Nodes and Pods.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	nodes, pods := &corev1.NodeList{}, &corev1.PodList{}
	if c.reader.List(ctx, nodes) != nil || c.reader.List(ctx, pods) != nil {
		return // the cache is not ready yet; the next scrape has the figures
	}
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	type sums struct{ podRequests, podLimits, daemonRequests, daemonLimits corev1.ResourceList }
	perNode := map[string]*sums{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		node := byName[pod.Spec.NodeName]
		c.collectPod(ch, pod, node)
		if node == nil || podutil.IsTerminal(pod) {
			continue
		}
		s := perNode[node.Name]
		if s == nil {
			s = &sums{}
			perNode[node.Name] = s
		}
		// The kubelet's own accounting: init containers, sidecars and the pod overhead included.
		requests, limits := podresource.PodRequests(pod, podresource.PodResourcesOptions{}), podresource.PodLimits(pod, podresource.PodResourcesOptions{})
		if podutil.IsOwnedByDaemonSet(pod) {
			s.daemonRequests, s.daemonLimits = scheduling.AddResources(s.daemonRequests, requests), scheduling.AddResources(s.daemonLimits, limits)
		} else {
			s.podRequests, s.podLimits = scheduling.AddResources(s.podRequests, requests), scheduling.AddResources(s.podLimits, limits)
		}
	}
	for _, node := range byName {
		c.emit(ch, c.allocatable, node, node.Status.Allocatable)
		overhead := corev1.ResourceList{}
		for name, capacity := range node.Status.Capacity {
			q := capacity.DeepCopy()
			q.Sub(node.Status.Allocatable[name])
			overhead[name] = q
		}
		c.emit(ch, c.overhead, node, overhead)
		if s := perNode[node.Name]; s != nil {
			c.emit(ch, c.podRequests, node, s.podRequests)
			c.emit(ch, c.podLimits, node, s.podLimits)
			c.emit(ch, c.daemonRequests, node, s.daemonRequests)
			c.emit(ch, c.daemonLimits, node, s.daemonLimits)
		}
	}
}

// emit sends one gauge per resource of list for node: a well-known label the node lacks reads
// N/A, and resource names are snake case, as v0.31 published them.
func (c *Collector) emit(ch chan<- prometheus.Metric, desc *prometheus.Desc, node *corev1.Node, list corev1.ResourceList) {
	base := make([]string, 0, len(c.nodeLabelNames))
	for _, l := range c.wellKnown {
		base = append(base, valueOr(node.Labels, l, notApplicable))
	}
	base = append(base, node.Name, node.Labels[v1alpha5.ProvisionerNameLabelKey], string(node.Status.Phase))
	for name, q := range list {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, q.AsApproximateFloat64(), append(base, ResourceType(name))...)
	}
}

// collectPod sends the pod's karpenter_pods_state. As v0.31 did: without its node (not bound, or
// the node is gone) the node's labels read N/A and the provisioner is the one the pod selects, if
// any; with it, a missing capacity type or provisioner reads N/A, other missing labels empty.
func (c *Collector) collectPod(ch chan<- prometheus.Metric, pod *corev1.Pod, node *corev1.Node) {
	provisioner, zone, arch, capacityType, instanceType := valueOr(pod.Spec.NodeSelector, v1alpha5.ProvisionerNameLabelKey, notApplicable),
		notApplicable, notApplicable, notApplicable, notApplicable
	if node != nil {
		provisioner = valueOr(node.Labels, v1alpha5.ProvisionerNameLabelKey, notApplicable)
		zone, arch, instanceType = node.Labels[corev1.LabelTopologyZone], node.Labels[corev1.LabelArchStable], node.Labels[corev1.LabelInstanceTypeStable]
		capacityType = valueOr(node.Labels, v1alpha5.CapacityTypeLabelKey, notApplicable)
	}
	ch <- prometheus.MustNewConstMetric(c.podState, prometheus.GaugeValue, 1, pod.Name, pod.Namespace, ownerLink(pod), pod.Spec.NodeName,
		provisioner, zone, arch, capacityType, instanceType, string(pod.Status.Phase))
}

// ownerLink is the owner label of karpenter_pods_state: the API path of the pod's first owner, in
// the form v0.31 built it (/apis/apps/v1/namespaces/default/replicasets/web-5d4f8), empty when
// the pod has no owner.
func ownerLink(pod *corev1.Pod) string {
	if len(pod.OwnerReferences) == 0 {
		return ""
	}
	ref := pod.OwnerReferences[0]
	return fmt.Sprintf("/apis/%s/namespaces/%s/%ss/%s", ref.APIVersion, pod.Namespace, strings.ToLower(ref.Kind), ref.Name)
}

// valueOr is labels[key], or otherwise when labels has no such key.
func valueOr(labels map[string]string, key, otherwise string) string {
	if v, ok := labels[key]; ok {
		return v
	}
	return otherwise
}
