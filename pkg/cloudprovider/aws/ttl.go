package aws

import "time"

// How long each kind of AWS answer is trusted before it is fetched again. One place, so the
// trade-off between API calls and staleness is visible.
const (
	// InstanceTypesTTL covers DescribeInstanceTypes and DescribeInstanceTypeOfferings.
	InstanceTypesTTL = 5 * time.Minute
	// OnDemandPricesTTL: the Pricing API changes rarely and is slow and rate-limited.
	OnDemandPricesTTL = 12 * time.Hour
	// SpotPricesTTL covers DescribeSpotPriceHistory.
	SpotPricesTTL = 30 * time.Minute
	// NetworkTTL covers subnets and security groups resolved from selectors.
	NetworkTTL = time.Minute
	// AMIsTTL covers SSM parameters and DescribeImages. Drift compares every node's image with
	// these, so a new EKS-optimized release is noticed within this long; one SSM and one
	// DescribeImages call a minute per image family is far below their limits.
	AMIsTTL = time.Minute
	// LaunchTemplatesTTL covers launch templates Kerf created or found.
	LaunchTemplatesTTL = 10 * time.Minute
	// LaunchTemplateGCPeriod is how often Kerf looks for launch templates it no longer uses.
	LaunchTemplateGCPeriod = 10 * time.Minute
	// LaunchTemplateUnusedAfter is how long a template must go unused (and exist) before it is
	// deleted: far longer than a launch holds one, and long enough that a spec launched every
	// few minutes keeps its template instead of re-creating it each time.
	LaunchTemplateUnusedAfter = 30 * time.Minute
)

// Offerings that failed for lack of capacity are remembered by pkg/provisioning/lifecycle
// (UnavailableOfferingsTTL there), where the launch result is seen.
