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
	// AMIsTTL covers SSM parameters and DescribeImages.
	AMIsTTL = 5 * time.Minute
	// LaunchTemplatesTTL covers launch templates Kerf created or found.
	LaunchTemplatesTTL = 10 * time.Minute
)

// Offerings that failed for lack of capacity are remembered by pkg/provisioning/lifecycle
// (UnavailableOfferingsTTL there), where the launch result is seen.
