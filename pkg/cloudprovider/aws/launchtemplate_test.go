package aws_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// templates lists awsim's launch templates by name.
func (e *launchEnv) templates() []string {
	var names []string
	for _, name := range e.srv.World.State().Templates {
		names = append(names, name)
	}
	return names
}

func TestLaunchTemplates_MachinesWithTheSameConfigShareOneTemplate(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	e.create(newMachine("default-a", onDemand()))
	e.create(newMachine("default-b", onDemand()))
	names := e.templates()
	if len(names) != 1 || !strings.HasPrefix(names[0], "kerf/"+testCluster+"/") {
		t.Fatalf("templates %v, want one named kerf/%s/<hash>", names, testCluster)
	}
	labelled := newMachine("default-c", onDemand())
	labelled.Labels["team"] = "ml" // different user data
	e.create(labelled)
	if n := len(e.templates()); n != 2 {
		t.Errorf("a Machine with other labels: %d templates, want 2", n)
	}
}

func TestLaunchTemplates_FoundAgainByNameAfterARestart(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.create(newMachine("default-a", onDemand()))
	e.cp = e.newCloudProvider() // empty caches
	e.create(newMachine("default-b", onDemand()))
	if names := e.templates(); len(names) != 1 {
		t.Errorf("templates after a restart %v, want the first one reused", names)
	}
}

func TestLaunchTemplates_OnePerImage(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m6g.large": 0.077})
	e.create(newMachine("default-any-arch", onDemand(), in("kubernetes.io/arch", "amd64", "arm64")))
	if names := e.templates(); len(names) != 2 {
		t.Errorf("templates %v, want one for the amd64 image and one for the arm64 image", names)
	}
}

func TestLaunchTemplates_NameHashesTheNormalizedSpec(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewLaunchTemplateProvider(e.ec2, testCluster, e.clock)
	base := aws.LaunchTemplateSpec{ImageID: "ami-1", UserData: "#!/bin/bash", SecurityGroupIDs: []string{"sg-1", "sg-2"}}
	defaults := v1alpha1.DefaultMetadataOptions()
	tests := []struct {
		name string
		edit func(*aws.LaunchTemplateSpec)
		same bool
	}{
		{"security groups in another order", func(s *aws.LaunchTemplateSpec) { s.SecurityGroupIDs = []string{"sg-2", "sg-1"} }, true},
		{"metadata options spelled out as the defaults", func(s *aws.LaunchTemplateSpec) { s.MetadataOptions = &defaults }, true},
		{"IMDSv1 allowed", func(s *aws.LaunchTemplateSpec) {
			s.MetadataOptions = &v1alpha1.MetadataOptions{HTTPTokens: awssdk.String("optional")}
		}, false},
		{"another image", func(s *aws.LaunchTemplateSpec) { s.ImageID = "ami-2" }, false},
		{"other user data", func(s *aws.LaunchTemplateSpec) { s.UserData += "\necho" }, false},
		{"an instance profile", func(s *aws.LaunchTemplateSpec) { s.InstanceProfile = "nodes" }, false},
		{"tags", func(s *aws.LaunchTemplateSpec) { s.Tags = map[string]string{"team": "ml"} }, false},
		{"block devices", func(s *aws.LaunchTemplateSpec) {
			s.BlockDeviceMappings = aws.DefaultBlockDeviceMappings(v1alpha1.AMIFamilyAL2)
		}, false},
	}
	baseName, err := p.Name(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			spec.SecurityGroupIDs = append([]string(nil), base.SecurityGroupIDs...)
			tc.edit(&spec)
			name, err := p.Name(spec)
			if err != nil {
				t.Fatal(err)
			}
			if (name == baseName) != tc.same {
				t.Errorf("name %s vs base %s: same=%v, want %v", name, baseName, name == baseName, tc.same)
			}
		})
	}
}

func TestLaunchTemplates_ConcurrentEnsureCreatesOne(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewLaunchTemplateProvider(e.ec2, testCluster, e.clock)
	spec := aws.LaunchTemplateSpec{ImageID: e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id"), UserData: "x"}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lt, err := p.Ensure(e.ctx, spec)
			ids[i], errs[i] = lt.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("Ensure %d = %s, %v; want %s", i, ids[i], errs[i], ids[0])
		}
	}
	if n := len(e.templates()); n != 1 {
		t.Errorf("%d templates, want 1", n)
	}
}

func TestCreate_UsesTheLaunchTemplateTheUserNamed(t *testing.T) {
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	nt.Spec.SecurityGroupSelector = nil
	nt.Spec.LaunchTemplate = awssdk.String("my-nodes")
	e := newLaunchEnv(t, nt, map[string]float64{"c5.large": 0.085})
	image := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	if _, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String("my-nodes"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: awssdk.String(image)}}); err != nil {
		t.Fatal(err)
	}
	launched := e.create(newMachine("default-own", onDemand()))
	if got := e.instance(launched.Status.ProviderID).ImageID; got != image {
		t.Errorf("launched image %s, want the user's template's %s", got, image)
	}
	if names := e.templates(); len(names) != 1 {
		t.Errorf("templates %v, want only the user's", names)
	}
	if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != "" {
		t.Errorf("user template: drift reason %q, err %v; want never drifted", reason, err)
	}
}

func TestCreate_LaunchTemplateGoneFromEC2IsMadeAgainAndTheLaunchSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		// remove makes EC2 miss the template the provider has cached.
		remove  func(e *launchEnv, id string)
		wantNew bool
	}{
		{"deleted behind the provider's back", func(e *launchEnv, id string) {
			if _, err := e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: awssdk.String(id)}); err != nil {
				e.t.Fatal(err)
			}
		}, true},
		{"EC2 reports it missing by name once", func(e *launchEnv, _ string) {
			e.srv.World.SetFault("CreateFleet", awsim.Fault{ErrorCode: "InvalidLaunchTemplateName.NotFoundException", Count: 1})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
			e.create(newMachine("default-first", onDemand()))
			old := e.templateIDs()
			if len(old) != 1 {
				t.Fatalf("templates %v after one launch, want one", old)
			}
			tc.remove(e, old[0])
			launched := e.create(newMachine("default-second", onDemand()))
			e.instance(launched.Status.ProviderID) // fails the test unless awsim launched it
			ids := e.templateIDs()
			if len(ids) != 1 || (ids[0] != old[0]) != tc.wantNew {
				t.Errorf("templates %v after the second launch (first %s), want one, new: %v", ids, old[0], tc.wantNew)
			}
		})
	}
}

func TestCreate_LaunchTemplateStillMissingAfterOneRetryFails(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.srv.World.SetFault("CreateFleet", awsim.Fault{ErrorCode: "InvalidLaunchTemplateId.NotFound", Count: 3})
	_, err := e.cp.Create(e.ctx, newMachine("default-gone", onDemand()))
	if err == nil || !strings.Contains(err.Error(), "InvalidLaunchTemplateId.NotFound") {
		t.Errorf("err = %v, want the EC2 code", err)
	}
	if left := e.srv.World.State().Faults["CreateFleet"].Count; left != 1 {
		t.Errorf("%d CreateFleet calls, want 2: the launch and one retry", 3-left)
	}
	if n := len(e.srv.World.Instances()); n != 0 {
		t.Errorf("%d instances launched", n)
	}
}

// A Machine whose first fleet launched nothing has spent its client token: EC2 answers that token
// with the failure for good, and with a mismatch once the request changes (here, prices moved
// and the types come in another order). Create launches under a derived token, and a repeat of
// it finds that instance instead of launching another.
func TestCreate_AfterAFleetThatLaunchedNothingLaunchesOnceUnderADerivedToken(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	m := newMachine("default-spent", onDemand())
	setCapacity := func(n int) {
		for _, typ := range []string{"c5.large", "m5.large"} {
			for _, zone := range e.srv.World.Zones() {
				e.srv.World.SetCapacity(typ, zone, "on-demand", n)
			}
		}
	}
	setCapacity(0)
	if _, err := e.cp.Create(e.ctx, m); !cloudprovider.IsInsufficientCapacityError(err) {
		t.Fatalf("Create with no capacity: %v, want insufficient capacity", err)
	}
	setCapacity(-1)
	e.types = &staticInstanceTypes{types: e.instanceTypes(map[string]float64{"c5.large": 0.2, "m5.large": 0.096})}
	e.cp = e.newCloudProvider()

	e.expectOneInstance(e.create(m), e.create(m))
}

// The lifecycle controller writes a launch's labels before its status: a reconcile in between
// launches again with the launched labels on the Machine. That repeat must be the same request
// (same template, same token), answered with the same instance.
func TestCreate_RepeatedWithTheLaunchsLabelsIsTheSameRequest(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	m := newMachine("default-relabelled", onDemand())
	first := e.create(m)
	relabelled := m.DeepCopy()
	relabelled.Labels = first.Labels
	e.expectOneInstance(first, e.create(relabelled))
	if ids := e.templateIDs(); len(ids) != 1 {
		t.Errorf("launch templates %v after one launch repeated, want one", ids)
	}
}

// The lifecycle controller launches many Machines at once through one provider: each gets its
// own instance, sharing templates, subnets and caches safely (run with -race).
func TestCreate_ConcurrentLaunchesEachGetTheirOwnInstance(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			launched, err := e.cp.Create(e.ctx, newMachine(fmt.Sprintf("default-burst-%d", i), onDemand()))
			if err == nil {
				ids[i] = launched.Status.ProviderID
			}
			errs[i] = err
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Create %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Errorf("two Machines got instance %s", ids[i])
		}
		seen[ids[i]] = true
	}
	if got := len(e.srv.World.Instances()); got != n {
		t.Errorf("awsim holds %d instances for %d Machines", got, n)
	}
	if templates := e.templateIDs(); len(templates) != 1 {
		t.Errorf("launch templates %v, want the one all launches share", templates)
	}
}
