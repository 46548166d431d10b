package interruption_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/interruption"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

var (
	env    *kubeenv.Env
	cached client.Client
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if env, err = kubeenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cached, err = env.CachedClient(ctx, state.AddIndexes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// queue is an in-memory interruption queue recording deletions; deleteErr fails the next Delete.
type queue struct {
	mu        sync.Mutex
	deleted   []string
	deleteErr error
}

func (q *queue) Receive(context.Context) ([]cloudprovider.InterruptionMessage, error) {
	return nil, nil
}

func (q *queue) Delete(_ context.Context, msg cloudprovider.InterruptionMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleteErr != nil {
		err := q.deleteErr
		q.deleteErr = nil
		return err
	}
	q.deleted = append(q.deleted, msg.ID)
	return nil
}

type marked struct{ pools []string }

func (m *marked) MarkUnavailable(_ context.Context, instanceType, zone, capacityType string) {
	m.pools = append(m.pools, instanceType+"/"+zone+"/"+capacityType)
}

type harness struct {
	controller  *interruption.Controller
	queue       *queue
	unavailable *marked
	recorder    *events.FakeRecorder
	registry    *prometheus.Registry
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, interruption.Options{}) }

func newHarnessWith(t *testing.T, opts interruption.Options) *harness {
	t.Helper()
	h := &harness{queue: &queue{}, unavailable: &marked{}, recorder: events.NewFakeRecorder(10), registry: prometheus.NewRegistry()}
	metrics, err := interruption.NewMetrics(h.registry)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h.controller = interruption.NewController(cached, h.queue, h.unavailable, h.recorder, clk, metrics, opts)
	return h
}

// kerfNode creates a Node of the default Provisioner for instance id, holding the termination
// finalizer so its deletion stays visible, and waits for the cache to see it.
func kerfNode(t *testing.T, id string, labels map[string]string) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	all := map[string]string{v1alpha5.ProvisionerNameLabelKey: "default", v1alpha5.LabelInstanceType: "m5.large", v1alpha5.LabelTopologyZone: "us-east-1a"}
	for k, v := range labels {
		all[k] = v
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + id, Labels: all, Finalizers: []string{v1alpha5.TerminationFinalizer}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///us-east-1a/" + id}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		current := &corev1.Node{}
		if env.Client.Get(ctx, client.ObjectKeyFromObject(node), current) == nil {
			current.Finalizers = nil
			_ = env.Client.Update(ctx, current)
			_ = env.Client.Delete(ctx, current)
		}
	})
	kubeenv.Eventually(t, 10*time.Second, "node cached", func() error {
		return cached.Get(ctx, client.ObjectKeyFromObject(node), &corev1.Node{})
	})
	return node
}

func deleting(t *testing.T, name string) bool {
	t.Helper()
	node := &corev1.Node{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, node); err != nil {
		t.Fatal(err)
	}
	return !node.DeletionTimestamp.IsZero()
}

func TestHandle_DrainsTheNodesAboutToGoAndDeletesEachMessage(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	for i, tc := range []struct {
		name      string
		msg       cloudprovider.InterruptionMessage
		wantDrain bool
		wantEvent string
		wantPool  bool
		// messageType is how Karpenter v0.31 counted the message.
		messageType string
		opts        interruption.Options
	}{
		{name: "spot interruption", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.SpotInterruption, ActionTime: now.Add(2 * time.Minute)},
			wantDrain: true, wantEvent: interruption.EventSpotInterrupted, wantPool: true, messageType: "SpotInterruptionKind"},
		{name: "scheduled change", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.ScheduledChange},
			wantDrain: true, wantEvent: interruption.EventInstanceUnhealthy, messageType: "ScheduledChangeKind"},
		{name: "stopping", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.StateChange, State: "stopping"},
			wantDrain: true, wantEvent: interruption.EventInstanceStopping, messageType: "StateChangeKind"},
		{name: "terminated", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.StateChange, State: "terminated"},
			wantDrain: true, wantEvent: interruption.EventInstanceTerminating, messageType: "StateChangeKind"},
		{name: "running", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.StateChange, State: "running"}, messageType: "StateChangeKind"},
		{name: "rebalance recommendation", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.RebalanceRecommendation},
			wantEvent: interruption.EventRebalanceRecommendation, messageType: "RebalanceRecommendationKind"},
		{name: "rebalance recommendation, draining on it", msg: cloudprovider.InterruptionMessage{Kind: cloudprovider.RebalanceRecommendation},
			opts: interruption.Options{DrainOnRebalance: true}, wantDrain: true, wantEvent: interruption.EventRebalanceRecommendation, messageType: "RebalanceRecommendationKind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, tc.opts)
			id := fmt.Sprintf("i-%08d", 100+i)
			node := kerfNode(t, id, nil)
			msg := tc.msg
			msg.ID, msg.InstanceIDs, msg.EventTime = "m-"+id, []string{id}, now
			if err := h.controller.Handle(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			if got := deleting(t, node.Name); got != tc.wantDrain {
				t.Errorf("node being deleted: %v, want %v", got, tc.wantDrain)
			}
			if len(h.queue.deleted) != 1 {
				t.Errorf("deleted messages %v, want this one", h.queue.deleted)
			}
			if (len(h.unavailable.pools) > 0) != tc.wantPool {
				t.Errorf("pools marked unavailable %v, want some: %v", h.unavailable.pools, tc.wantPool)
			}
			if tc.wantPool && h.unavailable.pools[0] != "m5.large/us-east-1a/spot" {
				t.Errorf("marked %v, want the node's spot pool", h.unavailable.pools)
			}
			select {
			case e := <-h.recorder.Events:
				if tc.wantEvent == "" {
					t.Errorf("event %q, want none", e)
				} else if !contains(e, tc.wantEvent) {
					t.Errorf("event %q, want reason %s", e, tc.wantEvent)
				}
			default:
				if tc.wantEvent != "" {
					t.Errorf("no event, want %s", tc.wantEvent)
				}
			}
			// A node Kerf drains says so too, as Karpenter v0.31's nodes did.
			select {
			case e := <-h.recorder.Events:
				if !tc.wantDrain || !contains(e, interruption.EventTerminatingOnInterruption) {
					t.Errorf("second event %q; draining %v", e, tc.wantDrain)
				}
			default:
				if tc.wantDrain {
					t.Errorf("no %s event for a node being drained", interruption.EventTerminatingOnInterruption)
				}
			}
			if v, _ := metricstest.Value(t, h.registry, "karpenter_interruption_received_messages",
				map[string]string{"message_type": tc.messageType}); v != 1 {
				t.Errorf("received messages{message_type=%s} %v, want 1", tc.messageType, v)
			}
		})
	}
}

// Messages about instances Kerf does not manage, and bodies Kerf cannot read, are deleted and
// counted, and change nothing.
func TestHandle_IgnoresForeignInstancesAndUnreadableBodies(t *testing.T) {
	h := newHarness(t)
	foreign := kerfNode(t, "i-foreign", map[string]string{v1alpha5.ProvisionerNameLabelKey: ""})
	for _, msg := range []cloudprovider.InterruptionMessage{
		{ID: "unknown", Kind: cloudprovider.SpotInterruption, InstanceIDs: []string{"i-nobody"}},
		{ID: "foreign", Kind: cloudprovider.SpotInterruption, InstanceIDs: []string{"i-foreign"}},
		{ID: "garbage", Kind: cloudprovider.Unparseable, Err: errors.New("not JSON")},
	} {
		if err := h.controller.Handle(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.queue.deleted) != 3 {
		t.Errorf("deleted %v, want all three", h.queue.deleted)
	}
	if deleting(t, foreign.Name) || len(h.unavailable.pools) > 0 {
		t.Error("acted on an instance Kerf does not manage")
	}
	if v, _ := metricstest.Value(t, h.registry, "karpenter_interruption_received_messages",
		map[string]string{"message_type": "UnparseableKind"}); v != 1 {
		t.Errorf("unparseable messages counted %v, want 1", v)
	}
	if v, _ := metricstest.Value(t, h.registry, "karpenter_interruption_received_messages",
		map[string]string{"message_type": "SpotInterruptionKind"}); v != 2 {
		t.Errorf("spot interruptions of instances Kerf does not manage counted %v, want 2", v)
	}
}

// EC2's state-change events for an instance Kerf is already terminating change nothing and say
// nothing: the node is leaving.
func TestHandle_ANodeAlreadyLeavingGetsNoSecondAction(t *testing.T) {
	h := newHarness(t)
	node := kerfNode(t, "i-leaving", nil)
	if err := env.Client.Delete(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, 10*time.Second, "deletion cached", func() error {
		n := &corev1.Node{}
		if err := cached.Get(context.Background(), client.ObjectKeyFromObject(node), n); err != nil || n.DeletionTimestamp.IsZero() {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	msg := cloudprovider.InterruptionMessage{ID: "leaving", Kind: cloudprovider.StateChange, State: "shutting-down", InstanceIDs: []string{"i-leaving"}}
	if err := h.controller.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-h.recorder.Events:
		t.Errorf("event %q about a node already leaving", e)
	default:
	}
	if len(h.queue.deleted) != 1 {
		t.Errorf("deleted %v, want the message deleted", h.queue.deleted)
	}
}

// A message whose deletion fails stays on the queue for the next receive, after its action.
func TestHandle_AFailedDeleteLeavesTheMessageForTheNextReceive(t *testing.T) {
	h := newHarness(t)
	node := kerfNode(t, "i-retry", nil)
	h.queue.deleteErr = errors.New("ThrottlingException")
	msg := cloudprovider.InterruptionMessage{ID: "retry", Kind: cloudprovider.SpotInterruption, InstanceIDs: []string{"i-retry"}}
	if err := h.controller.Handle(context.Background(), msg); err == nil {
		t.Fatal("handled without error, want the failed delete reported")
	}
	if !deleting(t, node.Name) {
		t.Error("node not drained")
	}
	if err := h.controller.Handle(context.Background(), msg); err != nil {
		t.Fatalf("handling the message again: %v", err)
	}
	if len(h.queue.deleted) != 1 {
		t.Errorf("deleted %v, want the message deleted once the retry succeeds", h.queue.deleted)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
