package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// Name is the controller's name in logs, metrics and Events.
const Name = "machine.lifecycle"

// DefaultRegistrationTTL is how long a launched Machine may wait for its Node before it is deleted.
const DefaultRegistrationTTL = 15 * time.Minute

// What the controller does through the API server, and nothing else. controller-gen turns these
// into the chart's ClusterRole (make generate). Events about Machines, which are cluster-scoped,
// land in the default namespace.
//
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Controller carries a Machine through launch, registration and initialization, deletes it when
// its Node never registers, and when it is deleted has its Node drained (pkg/termination) and
// its instance terminated before letting it go.
type Controller struct {
	kubeClient      client.Client
	cloudProvider   cloudprovider.CloudProvider
	unavailable     UnavailableOfferings
	recorder        events.EventRecorder
	clock           clock.Clock
	registrationTTL time.Duration
	metrics         *Metrics
	// launches holds each launch this process made (Machine UID → the launched Machine) until
	// a reconcile reads the Machine with its provider ID. The launch is persisted in two writes,
	// labels then status, and a reconcile between them, or on a cache that has seen only the
	// first, would otherwise call the cloud again: an idempotent replay, but one more CreateFleet
	// and DescribeInstances per Machine against EC2's rate limits.
	launches *cache.Cache
	// batchOpenTimeout bounds how long a node waits for the rest of its batch (gate.go); 0: no gate.
	batchOpenTimeout time.Duration
	// plannedPods, when set, has the gate hint each node's planned pods (gate.go).
	plannedPods PlannedPods
	// gateMu and openedNodes (node UIDs) make each gated node hinted and opened once (gate.go).
	gateMu      sync.Mutex
	openedNodes *cache.Cache
}

// launchMemory is how long a launch is remembered when no reconcile reads it back: longer than
// any cache lag, short enough that a Machine deleted meanwhile is forgotten.
const launchMemory = 10 * time.Minute

// NewController returns the Machine lifecycle controller. kubeClient should read from a cache
// that has the indexes of state.AddIndexes; registrationTTL is how
// long a launched Machine may wait for its Node (DefaultRegistrationTTL unless configured);
// metrics is shared with the GarbageCollector.
func NewController(kubeClient client.Client, cloudProvider cloudprovider.CloudProvider, unavailable UnavailableOfferings,
	recorder events.EventRecorder, clk clock.Clock, registrationTTL time.Duration, metrics *Metrics) *Controller {
	return &Controller{
		kubeClient:       kubeClient,
		cloudProvider:    cloudProvider,
		unavailable:      unavailable,
		recorder:         recorder,
		clock:            clk,
		registrationTTL:  registrationTTL,
		metrics:          metrics,
		launches:         cache.New(launchMemory, launchMemory),
		batchOpenTimeout: DefaultBatchOpenTimeout,
		openedNodes:      cache.New(launchMemory, launchMemory),
	}
}

// phase is one step of a Machine's life. It changes the Machine in memory (the caller persists
// labels and status once, at the end) and says whether the later phases should run.
type phase func(ctx context.Context, s *scope) (phaseResult, error)

// scope is what one Reconcile knows, handed from phase to phase.
type scope struct {
	machine *v1alpha5.Machine
	// node is the Machine's Node as registration left it, nil before one registered. Later phases
	// read it here rather than from the cache, which may not have seen registration's patch yet.
	node *corev1.Node
}

// phaseResult is what a phase asks of the reconcile loop.
type phaseResult struct {
	// requeueAfter, when positive, asks to look again after this long.
	requeueAfter time.Duration
	// stop skips the later phases: the Machine was deleted.
	stop bool
}

// Reconcile implements reconcile.Reconciler.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	machine := &v1alpha5.Machine{}
	if err := c.kubeClient.Get(ctx, req.NamespacedName, machine); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("Machine", klog.KObj(machine)))
	if !machine.DeletionTimestamp.IsZero() {
		result, err := c.finalize(ctx, machine)
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return result, err
	}
	// The finalizer is persisted before anything is launched, so deleting the Machine always
	// terminates its instance.
	if err := c.ensureFinalizer(ctx, machine); err != nil {
		return reconcile.Result{}, err
	}

	stored := machine.DeepCopy()
	s := &scope{machine: machine}
	var result reconcile.Result
	var errs []error
	// Every phase runs even after one failed: liveness must see a Machine whose launch keeps
	// failing. Each phase checks for itself whether it has anything to do.
	for _, run := range []phase{c.launch, c.register, c.openGate, c.initialize, c.received, c.liveness} {
		res, err := run(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		if res.requeueAfter > 0 && (result.RequeueAfter == 0 || res.requeueAfter < result.RequeueAfter) {
			result.RequeueAfter = res.requeueAfter
		}
		if res.stop {
			break
		}
	}
	setReady(machine, c.clock.Now())
	errs = append(errs, c.patch(ctx, stored, machine))
	if err := errors.Join(errs...); err != nil {
		if onlyConflicts(errs) {
			// Someone wrote the Machine or Node first (the kubelet, a user): try again on the
			// newer version, without an error in the log.
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, err
	}
	return result, nil
}

// conflictRetry is how soon a Machine whose write lost a race is reconciled again.
const conflictRetry = 100 * time.Millisecond

// onlyConflicts reports whether every error in errs is an optimistic-lock conflict.
func onlyConflicts(errs []error) bool {
	for _, err := range errs {
		if err != nil && !apierrors.IsConflict(err) {
			return false
		}
	}
	return true
}

// ensureFinalizer adds the termination finalizer to a Machine that lacks it.
func (c *Controller) ensureFinalizer(ctx context.Context, machine *v1alpha5.Machine) error {
	if controllerutil.ContainsFinalizer(machine, v1alpha5.TerminationFinalizer) {
		return nil
	}
	stored := machine.DeepCopy()
	controllerutil.AddFinalizer(machine, v1alpha5.TerminationFinalizer)
	if err := c.kubeClient.Patch(ctx, machine, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding finalizer to machine %s, %w", machine.Name, err)
	}
	return nil
}

// patch persists what the phases changed: labels and annotations with one patch, status with
// another. A Machine deleted meanwhile is not an error.
func (c *Controller) patch(ctx context.Context, stored, machine *v1alpha5.Machine) error {
	var errs []error
	if !equality.Semantic.DeepEqual(stored.Labels, machine.Labels) || !equality.Semantic.DeepEqual(stored.Annotations, machine.Annotations) {
		labelled := stored.DeepCopy()
		labelled.Labels, labelled.Annotations = machine.Labels, machine.Annotations
		if err := c.kubeClient.Patch(ctx, labelled, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("patching machine %s, %w", machine.Name, err))
		}
	}
	if !equality.Semantic.DeepEqual(stored.Status, machine.Status) {
		updated := stored.DeepCopy()
		updated.Status = machine.Status
		if err := c.kubeClient.Status().Patch(ctx, updated, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("patching status of machine %s, %w", machine.Name, err))
		}
	}
	return errors.Join(errs...)
}

// delete deletes the Machine for reason; its finalizer then terminates the instance.
func (c *Controller) delete(ctx context.Context, machine *v1alpha5.Machine, reason string) error {
	c.metrics.deleting(machine.UID, reason)
	if err := c.kubeClient.Delete(ctx, machine); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting machine %s, %w", machine.Name, err)
	}
	return nil
}

// MaxConcurrentReconciles is how many Machines are launched, registered or terminated at once.
const MaxConcurrentReconciles = 64

// Register starts the controller with the manager, whose cache must have state.AddIndexes. It
// reconciles a Machine when it changes and when a Node with its provider ID does.
func (c *Controller) Register(ctx context.Context, mgr manager.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named(Name).
		For(&v1alpha5.Machine{}).
		// A launch waits seconds on EC2; one slow or failing launch must not hold up the rest.
		WithOptions(controller.Options{MaxConcurrentReconciles: MaxConcurrentReconciles}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(c.machinesForNode),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				node, ok := o.(*corev1.Node)
				return ok && node.Spec.ProviderID != ""
			}))).
		Complete(c)
	if err != nil {
		return fmt.Errorf("building %s controller, %w", Name, err)
	}
	return nil
}

// machinesForNode maps a Node to the Machine with its provider ID.
func (c *Controller) machinesForNode(ctx context.Context, o client.Object) []reconcile.Request {
	node, ok := o.(*corev1.Node)
	if !ok {
		return nil
	}
	machines := &v1alpha5.MachineList{}
	if err := c.kubeClient.List(ctx, machines, client.MatchingFields{state.MachineProviderIDIndex: node.Spec.ProviderID}); err != nil {
		log.FromContext(ctx).Error(err, "listing machines for node", "Node", klog.KObj(node))
		return nil
	}
	requests := make([]reconcile.Request, 0, len(machines.Items))
	for i := range machines.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&machines.Items[i])})
	}
	return requests
}
