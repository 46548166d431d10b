package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// What "unused" means for a launch template, and why deleting one is safe:
//
//   - EC2 reads a template only while it handles the CreateFleet that names it. An instant fleet
//     answers once its instances exist, and every instance keeps its own copy of the template's
//     settings, so deleting a template never affects an instance, pending or running.
//   - So the only holder of a template is a launch in this process, between Ensure and the end of
//     its CreateFleet: seconds, throttling retries included. Ensure records every use, and a
//     template is deleted only after LaunchTemplateUnusedAfter (30 minutes) without one.
//   - A template also has to be that old. Uses by another process (the leader before a restart
//     or a failover) were never recorded here, and its last launches may be that recent.
//   - The decision happens under useMu: it marks the template deleting and evicts its cached ID;
//     the deletes happen after, outside the lock, so launches of other templates never wait on
//     EC2 for collection. An Ensure racing with collection either records its use first (the
//     template stays) or finds it deleting, waits for the delete to end and makes it again; it
//     never returns an ID that is being deleted.
//   - Only templates named kerf/<cluster>/... and tagged karpenter.k8s.aws/cluster=<cluster> are
//     Kerf's: Karpenter tags its own templates with the same key (a cluster moving from Karpenter
//     still has them), and a user's template could carry any name.
//   - A template deleted and needed again later costs one CreateLaunchTemplate. A Machine whose
//     CreateFleet is retried after that gets a template with a new ID under the same client
//     token; EC2 answers IdempotentParameterMismatch, which Launch resolves by finding the
//     instance by its tags.

// launchTemplateUnused decides whether garbage collection may delete lt at now, given when this
// process last used it (zero: never).
func launchTemplateUnused(clusterName string, lt ec2types.LaunchTemplate, lastUsed, now time.Time) bool {
	if !strings.HasPrefix(aws.ToString(lt.LaunchTemplateName), launchTemplateNamePrefix(clusterName)) {
		return false
	}
	tagged := false
	for _, t := range lt.Tags {
		if aws.ToString(t.Key) == TagLaunchTemplateCluster && aws.ToString(t.Value) == clusterName {
			tagged = true
		}
	}
	if !tagged || lt.CreateTime == nil {
		return false
	}
	return now.Sub(*lt.CreateTime) >= LaunchTemplateUnusedAfter && now.Sub(lastUsed) >= LaunchTemplateUnusedAfter
}

// markUsed records that a launch is about to use the named template, first waiting out a delete
// of it that garbage collection has under way.
func (p *DefaultLaunchTemplateProvider) markUsed(ctx context.Context, name string) error {
	for {
		p.useMu.Lock()
		done, deleting := p.deleting[name]
		if !deleting {
			p.lastUsed[name] = p.clock.Now()
			p.useMu.Unlock()
			return nil
		}
		p.useMu.Unlock()
		if p.waitingForDelete != nil {
			p.waitingForDelete(name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for launch template %s to be deleted, %w", name, ctx.Err())
		case <-done:
		}
	}
}

// DeleteUnused implements LaunchTemplateProvider. A failed delete does not stop the others; the
// error joins every failure.
func (p *DefaultLaunchTemplateProvider) DeleteUnused(ctx context.Context) ([]string, error) {
	defer p.forgetOldUses()
	input := &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagLaunchTemplateCluster), Values: []string{p.clusterName}}}}
	var candidates []ec2types.LaunchTemplate
	pages := ec2.NewDescribeLaunchTemplatesPaginator(p.ec2, input)
	for pages.HasMorePages() {
		out, err := call(ctx, p.retry, func() (*ec2.DescribeLaunchTemplatesOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, fmt.Errorf("listing launch templates, %w", err)
		}
		candidates = append(candidates, out.LaunchTemplates...)
	}
	var deleted []string
	var errs []error
	for _, lt := range p.markDeleting(candidates) {
		name := aws.ToString(lt.LaunchTemplateName)
		_, err := call(ctx, p.retry, func() (*ec2.DeleteLaunchTemplateOutput, error) {
			return p.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId})
		})
		p.doneDeleting(name)
		if err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting launch template %s, %w", name, err))
			continue
		}
		deleted = append(deleted, name)
		log.FromContext(ctx).Info("deleted unused launch template", "launchTemplate", name, "id", aws.ToString(lt.LaunchTemplateId))
	}
	return deleted, errors.Join(errs...)
}

// markDeleting decides, under useMu, which candidates to delete, marks them deleting and
// evicts their cached IDs, so no launch is handed one from here on.
func (p *DefaultLaunchTemplateProvider) markDeleting(candidates []ec2types.LaunchTemplate) []ec2types.LaunchTemplate {
	p.useMu.Lock()
	defer p.useMu.Unlock()
	now := p.clock.Now()
	var out []ec2types.LaunchTemplate
	for _, lt := range candidates {
		name := aws.ToString(lt.LaunchTemplateName)
		if _, dup := p.deleting[name]; dup || !launchTemplateUnused(p.clusterName, lt, p.lastUsed[name], now) {
			continue
		}
		p.deleting[name] = make(chan struct{})
		p.cache.Delete(name)
		out = append(out, lt)
	}
	return out
}

// doneDeleting ends the delete of a template, deleted or not, releasing the launches waiting on it.
func (p *DefaultLaunchTemplateProvider) doneDeleting(name string) {
	p.useMu.Lock()
	defer p.useMu.Unlock()
	close(p.deleting[name])
	delete(p.deleting, name)
}

// forgetOldUses drops uses too old to keep any template, so the record does not grow with every
// spec ever launched.
func (p *DefaultLaunchTemplateProvider) forgetOldUses() {
	p.useMu.Lock()
	defer p.useMu.Unlock()
	now := p.clock.Now()
	for name, at := range p.lastUsed {
		if now.Sub(at) >= LaunchTemplateUnusedAfter {
			delete(p.lastUsed, name)
		}
	}
}

// LaunchTemplateGarbageCollector deletes the cluster's unused launch templates every
// LaunchTemplateGCPeriod. It is a manager.Runnable that runs on the leader only, the one
// replica that launches.
type LaunchTemplateGarbageCollector struct {
	templates LaunchTemplateProvider
	clock     clock.Clock
}

var (
	_ manager.Runnable               = (*LaunchTemplateGarbageCollector)(nil)
	_ manager.LeaderElectionRunnable = (*LaunchTemplateGarbageCollector)(nil)
)

// NewLaunchTemplateGarbageCollector collects the templates of one provider; it must be the
// provider the launches use, since that provider records their uses.
func NewLaunchTemplateGarbageCollector(templates LaunchTemplateProvider, clk clock.Clock) *LaunchTemplateGarbageCollector {
	return &LaunchTemplateGarbageCollector{templates: templates, clock: clk}
}

// LaunchTemplateGarbageCollector returns the collector of the provider's launch templates, for
// the manager to run.
func (c *CloudProvider) LaunchTemplateGarbageCollector() *LaunchTemplateGarbageCollector {
	return NewLaunchTemplateGarbageCollector(c.launchTemplates, c.opts.Clock)
}

// Start implements manager.Runnable. The first pass waits one period, so templates still in use
// after a restart are found (and their use recorded) by launches before any is judged. Errors are
// logged and the next pass tries again.
func (g *LaunchTemplateGarbageCollector) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("launchtemplate-gc")
	ctx = log.IntoContext(ctx, logger)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.clock.After(LaunchTemplateGCPeriod):
		}
		deleted, err := g.templates.DeleteUnused(ctx)
		if err != nil {
			logger.Error(err, "deleting unused launch templates", "deleted", len(deleted))
			continue
		}
		logger.V(1).Info("collected launch templates", "deleted", len(deleted))
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (g *LaunchTemplateGarbageCollector) NeedLeaderElection() bool { return true }
