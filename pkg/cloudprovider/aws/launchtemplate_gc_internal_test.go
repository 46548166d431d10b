package aws

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestLaunchTemplateUnused_OnlyTheClustersOwnTemplatesOnceOldAndIdle(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	long := LaunchTemplateUnusedAfter
	template := func(name string, created time.Duration, tags ...string) ec2types.LaunchTemplate {
		lt := ec2types.LaunchTemplate{LaunchTemplateName: aws.String(name), CreateTime: aws.Time(now.Add(-created))}
		for i := 0; i+1 < len(tags); i += 2 {
			lt.Tags = append(lt.Tags, ec2types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		return lt
	}
	ours := func(created time.Duration) ec2types.LaunchTemplate {
		return template("kerf/prod/0123456789abcdef", created, TagLaunchTemplateCluster, "prod")
	}
	noCreateTime := ours(long)
	noCreateTime.CreateTime = nil
	for _, tc := range []struct {
		name     string
		lt       ec2types.LaunchTemplate
		lastUsed time.Time
		want     bool
	}{
		{"ours, old, never used by this process", ours(long), time.Time{}, true},
		{"ours, old, last used just past the window", ours(2 * long), now.Add(-long), true},
		{"ours, used a minute ago (a launch may still hold it)", ours(2 * long), now.Add(-time.Minute), false},
		{"ours, used just inside the window", ours(2 * long), now.Add(-long + time.Second), false},
		{"ours, created recently by another process", ours(time.Minute), time.Time{}, false},
		{"ours, creation time unknown", noCreateTime, time.Time{}, false},
		{"Karpenter's template with the same cluster tag", template("Karpenter-prod-123", long, TagLaunchTemplateCluster, "prod"), time.Time{}, false},
		{"our name for another cluster", template("kerf/prod-2/0123456789abcdef", long, TagLaunchTemplateCluster, "prod-2"), time.Time{}, false},
		{"our name prefix but tagged for another cluster", template("kerf/prod/0123456789abcdef", long, TagLaunchTemplateCluster, "staging"), time.Time{}, false},
		{"our name prefix without the tag (a user's)", template("kerf/prod/mine", long), time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := launchTemplateUnused("prod", tc.lt, tc.lastUsed, now); got != tc.want {
				t.Errorf("unused = %v, want %v", got, tc.want)
			}
		})
	}
}
