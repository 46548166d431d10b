package termination

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// Name is the controller's name in logs and metrics.
const Name = "node.termination"

// What the controller does through the API server. controller-gen turns these into the chart's
// ClusterRole (make generate).
//
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Event reasons on the Node being terminated and on the pods it evicts.
const (
	EventDraining           = "Draining"
	EventFailedDraining     = "FailedDraining"
	EventEvicted            = "Evicted"
	EventInstanceTerminated = "InstanceTerminated"
	EventInstanceGone       = "InstanceGone"
)

const (
	// blockedEventInterval is the least time between two FailedDraining Events on one Node.
	blockedEventInterval = time.Minute
	// instanceCheckInterval is how often a draining Node's instance is looked up, to stop waiting
	// on evictions that can never matter once it is gone.
	instanceCheckInterval = 15 * time.Second
	// waitInterval is how soon a drain that waits on pods looks again when no pod event comes.
	waitInterval = 5 * time.Second
	// terminationPoll is how soon a terminated instance is looked at again, until the cloud
	// reports it shutting down or gone.
	terminationPoll = 2 * time.Second
	// maxConcurrentReconciles bounds how many Nodes drain at once; deleting a Provisioner deletes
	// all its Nodes together.
	maxConcurrentReconciles = 64
)

// Controller drains and terminates each Node that is being deleted and holds the termination
// finalizer: delete its Machine too, cordon, evict, terminate the instance, wait until the cloud
// reports it going, release the finalizer. Each step reads its state from the API server and the
// cloud, so a restart resumes where the last run stopped.
type Controller struct {
	kubeClient client.Client
	// apiReader reads around the cache: a node is only terminated once the API server itself
	// lists no pod left on it, since a pod bound a moment ago may not be in the cache yet.
	apiReader     client.Reader
	cloudProvider cloudprovider.CloudProvider
	recorder      events.EventRecorder
	clock         clock.Clock
	metrics       *Metrics
	evictor       *evictor

	mu sync.Mutex
	// drains is keyed by Node name; an entry whose UID differs belongs to an earlier Node of
	// that name.
	drains map[string]*drain
}

// drain is what this process remembers about one Node it is terminating; losing it on restart
// only repeats an Event or an instance lookup.
type drain struct {
	uid       types.UID
	announced bool
	// started is when this process began draining the node.
	started time.Time
	// terminating: this process asked the cloud to terminate the instance, so the instance
	// vanishing is expected and not a reason to skip the drain.
	terminating      bool
	lastBlockedEvent time.Time
	instanceChecked  time.Time
	tried            map[types.UID]bool
}

// NewController returns the termination controller. kubeClient should read from a cache with
// state.AddIndexes; apiReader reads the API server directly (the manager's GetAPIReader).
func NewController(kubeClient client.Client, apiReader client.Reader, cloudProvider cloudprovider.CloudProvider, recorder events.EventRecorder,
	clk clock.Clock, metrics *Metrics) *Controller {
	return &Controller{
		kubeClient:    kubeClient,
		apiReader:     apiReader,
		cloudProvider: cloudProvider,
		recorder:      recorder,
		clock:         clk,
		metrics:       metrics,
		evictor:       newEvictor(kubeClient, clk, metrics),
		drains:        map[string]*drain{},
	}
}

// Reconcile implements reconcile.Reconciler.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	node := &corev1.Node{}
	if err := c.kubeClient.Get(ctx, req.NamespacedName, node); err != nil {
		c.forget(req.Name)
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if node.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(node, v1alpha5.TerminationFinalizer) {
		c.forget(req.Name)
		return reconcile.Result{}, nil
	}
	// controller-runtime's logger already names the Node.
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("providerID", node.Spec.ProviderID))
	result, err := c.terminate(ctx, node)
	if apierrors.IsConflict(err) {
		// The cache was behind a write (ours or the kubelet's): look again on the newer Node.
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return result, nil
}

func (c *Controller) terminate(ctx context.Context, node *corev1.Node) (reconcile.Result, error) {
	machine, err := c.machineOf(ctx, node)
	if err != nil {
		return reconcile.Result{}, err
	}
	if machine != nil {
		ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("Machine", klog.KObj(machine)))
	}
	d := c.drainOf(node)
	if c.instanceGone(ctx, node, d) {
		if err := c.deletePods(ctx, node); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, c.release(ctx, node, machine)
	}
	if err := c.cordon(ctx, node, d); err != nil {
		return reconcile.Result{}, err
	}
	if wait, err := c.drain(ctx, node, d); err != nil || wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, err
	}
	terminated, err := c.terminateInstance(ctx, node, machine, d)
	if err != nil || !terminated {
		return reconcile.Result{RequeueAfter: terminationPoll}, err
	}
	return reconcile.Result{}, c.release(ctx, node, machine)
}

// machineOf returns the Node's Machine, having deleted it first if it was not being deleted yet:
// deleting either one removes both, and the Machine's finalizer waits for this one.
func (c *Controller) machineOf(ctx context.Context, node *corev1.Node) (*v1alpha5.Machine, error) {
	if node.Spec.ProviderID == "" {
		return nil, nil
	}
	machine, err := state.MachineForProviderID(ctx, c.kubeClient, node.Spec.ProviderID)
	if err != nil || machine == nil {
		return nil, err
	}
	if machine.DeletionTimestamp.IsZero() {
		if err := c.kubeClient.Delete(ctx, machine); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("deleting machine %s of node %s, %w", machine.Name, node.Name, err)
		}
		log.FromContext(ctx).Info("deleted the machine of a deleted node", "Machine", klog.KObj(machine))
	}
	return machine, nil
}

func (c *Controller) drainOf(node *corev1.Node) *drain {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.drains[node.Name]
	if !ok || d.uid != node.UID {
		d = &drain{uid: node.UID, tried: map[types.UID]bool{}}
		c.drains[node.Name] = d
	}
	return d
}

// forget drops what this process remembers about a Node that is gone or no longer draining.
func (c *Controller) forget(name string) {
	c.mu.Lock()
	d := c.drains[name]
	delete(c.drains, name)
	c.mu.Unlock()
	if d != nil {
		for uid := range d.tried {
			c.evictor.forget(uid)
		}
	}
}

// instanceGone reports whether the cloud no longer has the Node's instance, looking at most once
// per instanceCheckInterval. A failed lookup only means the drain goes on as usual.
func (c *Controller) instanceGone(ctx context.Context, node *corev1.Node, d *drain) bool {
	now := c.clock.Now()
	if node.Spec.ProviderID == "" || d.terminating || now.Sub(d.instanceChecked) < instanceCheckInterval {
		return false
	}
	d.instanceChecked = now
	_, err := c.cloudProvider.Get(ctx, node.Spec.ProviderID)
	if err != nil && !cloudprovider.IsMachineNotFoundError(err) {
		log.FromContext(ctx).Error(err, "looking up the instance of a draining node")
	}
	return cloudprovider.IsMachineNotFoundError(err)
}

// deletePods removes every pod of a Node whose instance is gone. No kubelet is left to stop them
// or to confirm a graceful deletion, so they are deleted at once and their controllers replace
// them elsewhere.
func (c *Controller) deletePods(ctx context.Context, node *corev1.Node) error {
	pods, err := c.podsOn(ctx, node)
	if err != nil {
		return err
	}
	var errs []error
	for i := range pods {
		if err := c.kubeClient.Delete(ctx, &pods[i], client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting pod %s/%s, %w", pods[i].Namespace, pods[i].Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.recorder.Eventf(node, nil, corev1.EventTypeNormal, EventInstanceGone, "Terminate",
		"Instance %s no longer exists; deleted the node's %d pods without draining", node.Spec.ProviderID, len(pods))
	log.FromContext(ctx).Info("instance of a deleted node is gone, deleted its pods without draining", "pods", len(pods))
	return nil
}

func (c *Controller) podsOn(ctx context.Context, node *corev1.Node) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := c.kubeClient.List(ctx, pods, client.MatchingFields{state.PodNodeNameIndex: node.Name}); err != nil {
		return nil, fmt.Errorf("listing pods on node %s, %w", node.Name, err)
	}
	return pods.Items, nil
}

// cordon marks the Node unschedulable, so no new pod lands where pods are being evicted from.
func (c *Controller) cordon(ctx context.Context, node *corev1.Node, d *drain) error {
	if !node.Spec.Unschedulable {
		stored := node.DeepCopy()
		node.Spec.Unschedulable = true
		if err := c.kubeClient.Patch(ctx, node, client.MergeFrom(stored)); err != nil {
			return fmt.Errorf("cordoning node %s, %w", node.Name, err)
		}
	}
	if !d.announced {
		d.announced, d.started = true, c.clock.Now()
		c.recorder.Eventf(node, nil, corev1.EventTypeNormal, EventDraining, "Drain", "Cordoned the node; evicting its pods before terminating it")
		log.FromContext(ctx).Info("draining node")
	}
	return nil
}

// terminateInstance terminates the Node's instance and reports whether the cloud says it is
// going or gone. The first call terminates; later calls find it shutting down.
func (c *Controller) terminateInstance(ctx context.Context, node *corev1.Node, machine *v1alpha5.Machine, d *drain) (bool, error) {
	if node.Spec.ProviderID == "" {
		return true, nil
	}
	target := &v1alpha5.Machine{}
	if machine != nil {
		target = machine.DeepCopy()
	}
	target.Status.ProviderID = node.Spec.ProviderID
	err := c.cloudProvider.Delete(ctx, target)
	if cloudprovider.IsMachineNotFoundError(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("terminating the instance of node %s, %w", node.Name, err)
	}
	if !d.terminating {
		d.terminating = true
		c.recorder.Eventf(node, nil, corev1.EventTypeNormal, EventInstanceTerminated, "Terminate", "Drained; terminated instance %s", node.Spec.ProviderID)
		log.FromContext(ctx).Info("terminated instance of drained node")
	}
	return false, nil
}

// release removes the finalizer, letting the Node go, and records the termination.
func (c *Controller) release(ctx context.Context, node *corev1.Node, machine *v1alpha5.Machine) error {
	stored := node.DeepCopy()
	controllerutil.RemoveFinalizer(node, v1alpha5.TerminationFinalizer)
	// Finalizers are a list a merge patch replaces whole: the lock keeps another's entry.
	if err := c.kubeClient.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer from node %s, %w", node.Name, err)
	}
	c.forget(node.Name)
	provisioner := node.Labels[v1alpha5.ProvisionerNameLabelKey]
	took := c.clock.Since(node.DeletionTimestamp.Time)
	c.metrics.terminated.WithLabelValues(provisioner).Inc()
	c.metrics.terminationTime.WithLabelValues(provisioner).Observe(took.Seconds())
	log.FromContext(ctx).Info("terminated node", "duration", took.Round(time.Millisecond).String())
	return nil
}

// Register starts the controller with the manager, whose cache must have state.AddIndexes. A Node
// is reconciled when it changes while being deleted, and when a pod on it changes, so a drain
// moves on as soon as an evicted pod is gone.
func (c *Controller) Register(mgr manager.Manager) error {
	terminating := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return !o.GetDeletionTimestamp().IsZero() && controllerutil.ContainsFinalizer(o, v1alpha5.TerminationFinalizer)
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named(Name).
		For(&corev1.Node{}, builder.WithPredicates(terminating)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(c.nodeOfPod)).
		// A budget that allows a disruption again lets a waiting drain go on at once rather
		// than after its eviction backoff.
		Watches(&policyv1.PodDisruptionBudget{}, handler.EnqueueRequestsFromMapFunc(c.drainingNodes),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				pdb, ok := o.(*policyv1.PodDisruptionBudget)
				return ok && pdb.Status.DisruptionsAllowed > 0
			}))).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentReconciles}).
		Complete(c)
	if err != nil {
		return fmt.Errorf("building %s controller, %w", Name, err)
	}
	return nil
}

// nodeOfPod maps a pod to its Node when that Node is being terminated.
func (c *Controller) nodeOfPod(ctx context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil
	}
	node := &corev1.Node{}
	if err := c.kubeClient.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil || node.DeletionTimestamp.IsZero() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: node.Name}}}
}

// drainingNodes maps a budget that allows disruptions again to every Node being drained, and
// lets their refused evictions be retried now.
func (c *Controller) drainingNodes(ctx context.Context, _ client.Object) []reconcile.Request {
	c.mu.Lock()
	names := make([]string, 0, len(c.drains))
	for name := range c.drains {
		names = append(names, name)
	}
	c.mu.Unlock()
	requests := make([]reconcile.Request, 0, len(names))
	for _, name := range names {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
	}
	c.evictor.retryNow()
	return requests
}
