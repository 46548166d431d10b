package aws_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// describedTemplates lists every launch template through the SDK, by name, sorted.
func (e *launchEnv) describedTemplates() []string {
	e.t.Helper()
	out, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, lt := range out.LaunchTemplates {
		names = append(names, awssdk.ToString(lt.LaunchTemplateName))
	}
	slices.Sort(names)
	return names
}

// templateIDs lists awsim's launch template IDs.
func (e *launchEnv) templateIDs() []string {
	var ids []string
	for id := range e.srv.World.State().Templates {
		ids = append(ids, id)
	}
	return ids
}

// foreignTemplate creates a template Kerf did not make for this cluster.
func (e *launchEnv) foreignTemplate(name string, tags map[string]string) {
	e.t.Helper()
	input := &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String(name), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{UserData: awssdk.String("ZWNobw==")}}
	if len(tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeLaunchTemplate}
		for k, v := range tags {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
		}
		input.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	if _, err := e.ec2.CreateLaunchTemplate(e.ctx, input); err != nil {
		e.t.Fatal(err)
	}
}

// waitForClockWaiter returns once something waits on the fake clock: the collector between passes.
func (e *launchEnv) waitForClockWaiter() {
	for !e.clock.HasWaiters() {
		runtime.Gosched()
	}
}

func TestLaunchTemplateGC_DeletesTheTemplateNoLaunchUsesAndNothingElse(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	labelled := func(name, team string) *v1alpha5.Machine {
		m := newMachine(name, onDemand())
		m.Labels["team"] = team // user data differs per team, so each team has its own template
		return m
	}
	e.create(labelled("default-a1", "a"))
	teamAID, teamA := e.templateIDs()[0], e.templates()[0]
	e.create(labelled("default-b1", "b"))
	ours := e.templates()
	e.foreignTemplate("my-nodes", nil)
	e.foreignTemplate("Karpenter-"+testCluster+"-1234", map[string]string{aws.TagLaunchTemplateCluster: testCluster})
	e.foreignTemplate("kerf/other-cluster/0123456789abcdef", map[string]string{aws.TagLaunchTemplateCluster: "other-cluster"})
	if len(ours) != 2 {
		t.Fatalf("templates %v, want one per team", ours)
	}

	ctx, cancel := context.WithCancel(e.ctx)
	stopped := make(chan error)
	go func() { stopped <- e.cp.LaunchTemplateGarbageCollector().Start(ctx) }()
	// Team a launches every period; team b never again.
	for i := range int(aws.LaunchTemplateUnusedAfter/aws.LaunchTemplateGCPeriod) + 1 {
		e.waitForClockWaiter()
		e.create(labelled("default-a-"+string(rune('a'+i)), "a"))
		e.clock.Step(aws.LaunchTemplateGCPeriod)
	}
	e.waitForClockWaiter() // the last pass is done
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Start returned %v, want nil on shutdown", err)
	}

	want := []string{"Karpenter-" + testCluster + "-1234", teamA, "kerf/other-cluster/0123456789abcdef", "my-nodes"}
	slices.Sort(want)
	if got := e.describedTemplates(); !slices.Equal(got, want) {
		t.Errorf("templates after %s: %v, want team a's and the foreign ones %v", aws.LaunchTemplateUnusedAfter, got, want)
	}
	if ids := e.templateIDs(); !slices.Contains(ids, teamAID) {
		t.Errorf("team a's template %s was deleted and made again (%v); want it kept while launches use it", teamAID, ids)
	}
	// The deleted spec is launched again: its template is made anew, not looked up in the cache.
	e.create(labelled("default-b2", "b"))
	if n := len(e.templates()); n != 5 {
		t.Errorf("%d templates after team b launches again, want 5", n)
	}
}

func TestLaunchTemplateGC_EnsureDuringADeleteNeverReturnsTheDeletedTemplate(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewLaunchTemplateProvider(e.ec2, testCluster, e.clock)
	spec := aws.LaunchTemplateSpec{ImageID: e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id"), UserData: "x"}
	old, err := p.Ensure(e.ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Step(aws.LaunchTemplateUnusedAfter) // idle long enough to be collected
	// The delete hangs in EC2 until the clock moves, leaving a launch time to ask for the template.
	e.srv.World.SetFault("DeleteLaunchTemplate", awsim.Fault{Latency: time.Second, Count: 1})
	collected := make(chan error)
	go func() { _, err := p.DeleteUnused(e.ctx); collected <- err }()
	e.waitForClockWaiter()
	waiting := make(chan struct{}, 1)
	aws.NotifyWaitingForDelete(p, func(string) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	ensured := make(chan aws.LaunchTemplate)
	go func() {
		lt, err := p.Ensure(e.ctx, spec)
		if err != nil {
			t.Error(err)
		}
		ensured <- lt
	}()
	// The delete cannot end before the clock steps, so Ensure either waits for it or has
	// answered with the template being deleted.
	select {
	case <-waiting:
	case lt := <-ensured:
		t.Fatalf("Ensure returned %s while collection was deleting %s", lt.ID, old.ID)
	}
	e.clock.Step(time.Second)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	lt := <-ensured
	if lt.ID == old.ID {
		t.Fatalf("Ensure returned %s while collection was deleting it", lt.ID)
	}
	if _, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{lt.ID}}); err != nil {
		t.Errorf("Ensure returned %s, which does not exist: %v", lt.ID, err)
	}
}

// unusedTemplates makes n templates through p and lets them idle long enough to be collected;
// it returns their names, sorted.
func (e *launchEnv) unusedTemplates(p *aws.DefaultLaunchTemplateProvider, n int) []string {
	e.t.Helper()
	image := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	var names []string
	for i := range n {
		lt, err := p.Ensure(e.ctx, aws.LaunchTemplateSpec{ImageID: image, UserData: string(rune('a' + i))})
		if err != nil {
			e.t.Fatal(err)
		}
		names = append(names, lt.Name)
	}
	slices.Sort(names)
	e.clock.Step(aws.LaunchTemplateUnusedAfter)
	return names
}

func TestLaunchTemplateGC_AFailedDeleteDoesNotStopTheOthersAndIsReported(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewLaunchTemplateProvider(e.ec2, testCluster, e.clock)
	names := e.unusedTemplates(p, 3)
	// Collection deletes in name order, so the first delete fails.
	e.srv.World.SetFault("DeleteLaunchTemplate", awsim.Fault{ErrorCode: "UnauthorizedOperation", ErrorStatus: 403, Count: 1})
	deleted, err := p.DeleteUnused(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "deleting launch template "+names[0]) || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("err = %v, want the failed delete of %s with its code", err, names[0])
	}
	if !slices.Equal(deleted, names[1:]) {
		t.Errorf("deleted %v, want the other templates %v", deleted, names[1:])
	}
	if got := e.describedTemplates(); !slices.Equal(got, names[:1]) {
		t.Errorf("templates left %v, want only the one whose delete failed, %s", got, names[0])
	}
	// The next pass tries again.
	if deleted, err := p.DeleteUnused(e.ctx); err != nil || !slices.Equal(deleted, names[:1]) {
		t.Errorf("next pass deleted %v, %v; want %s", deleted, err, names[0])
	}
}

func TestLaunchTemplateGC_LaunchesOfOtherTemplatesDoNotWaitForADelete(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewLaunchTemplateProvider(e.ec2, testCluster, e.clock)
	e.unusedTemplates(p, 1)
	// The delete hangs in EC2 until the clock moves.
	e.srv.World.SetFault("DeleteLaunchTemplate", awsim.Fault{Latency: time.Second, Count: 1})
	collected := make(chan error)
	go func() { _, err := p.DeleteUnused(e.ctx); collected <- err }()
	e.waitForClockWaiter()
	// Were a lock held across the delete, this would block until the step below.
	image := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	if _, err := p.Ensure(e.ctx, aws.LaunchTemplateSpec{ImageID: image, UserData: "another"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Second)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
}
