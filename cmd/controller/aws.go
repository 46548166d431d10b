package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

// newAWS builds the AWS cloud provider from the options and the cluster's own REST config: the API
// server's address and CA go into node bootstrap unless --cluster-endpoint says otherwise, and the
// server's version picks the EKS-optimized images. The SDK's standard chain supplies credentials
// (and honours AWS_ENDPOINT_URL, which the sandbox points at awsim).
func newAWS(ctx context.Context, log logr.Logger, o *operator.Options, restConfig *rest.Config, kube client.Reader, clk clock.Clock, unavailable aws.UnavailableOfferingsMarker) (*aws.CloudProvider, cloudprovider.InterruptionQueue, error) {
	cfg, err := awsConfig(ctx, log, o)
	if err != nil {
		return nil, nil, err
	}
	var eksCluster clusterFacts
	if o.ClusterEndpoint == "" || o.ClusterCIDR == "" {
		eksCluster = describeCluster(ctx, log, o.ClusterName, eks.NewFromConfig(cfg))
	}
	o.ClusterCIDR = cmp.Or(o.ClusterCIDR, eksCluster.serviceCIDR)
	cloud, err := newCloudProvider(cfg, o, restConfig, eksCluster, kube, clk, unavailable)
	if err != nil || o.InterruptionQueue == "" {
		return cloud, nil, err
	}
	return cloud, aws.NewInterruptionQueue(sqs.NewFromConfig(cfg), o.InterruptionQueue, clk), nil
}

// awsConfig loads the SDK's configuration: credentials from the standard chain, the region from
// the options, the environment or instance metadata.
func awsConfig(ctx context.Context, log logr.Logger, o *operator.Options) (awssdk.Config, error) {
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(sdkLogger(log))}
	if o.AWSRegion != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.AWSRegion))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return cfg, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if cfg.Region == "" {
		// Nothing named a region: on EC2 the instance metadata service knows it.
		if cfg, err = config.LoadDefaultConfig(ctx, append(loadOpts, config.WithEC2IMDSRegion())...); err != nil {
			return cfg, fmt.Errorf("--aws-region (env AWS_REGION): not set, and instance metadata did not say, %w", err)
		}
	}
	// The flag was checked at start; this catches a region from the environment or shared config.
	if !operator.ValidRegion(cfg.Region) {
		return cfg, fmt.Errorf("--aws-region (env AWS_REGION): %q is not an AWS region such as us-east-1", cfg.Region)
	}
	if o.AssumeRoleARN != "" {
		// The standard chain's credentials only assume the role; every other call is made as it,
		// with sessions renewed before they expire.
		cfg.Credentials = awssdk.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.AssumeRoleARN,
			func(a *stscreds.AssumeRoleOptions) {
				a.RoleSessionName, a.Duration = "kerf-"+o.ClusterName, o.AssumeRoleDuration
			}))
	}
	return cfg, nil
}

func newCloudProvider(cfg awssdk.Config, o *operator.Options, restConfig *rest.Config, eksCluster clusterFacts, kube client.Reader,
	clk clock.Clock, unavailable aws.UnavailableOfferingsMarker) (*aws.CloudProvider, error) {
	endpoint, caBundle, err := bootstrapTarget(o, restConfig, eksCluster, os.Getenv)
	if err != nil {
		return nil, err
	}
	ec2Client := ec2.NewFromConfig(cfg)
	var pricingClient aws.PricingAPI
	if !o.IsolatedVPC {
		pricingClient = pricing.NewFromConfig(cfg, func(p *pricing.Options) { p.Region = aws.PricingAPIRegion(cfg.Region) })
	}
	prices, err := aws.NewPricingProvider(ec2Client, pricingClient, clk, aws.PricingOptions{Region: cfg.Region, IsolatedVPC: o.IsolatedVPC})
	if err != nil {
		return nil, err
	}
	networking := aws.PodNetworking{PodENI: o.EnablePodENI, UnlimitedPodDensity: !o.ENILimitedPodDensity, ReservedENIs: o.ReservedENIs}
	instanceTypes, err := aws.NewInstanceTypeProvider(ec2Client, prices, clk, o.VMMemoryOverheadPercent, networking)
	if err != nil {
		return nil, err
	}
	versions, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("building discovery client, %w", err)
	}
	return aws.NewCloudProvider(aws.CloudProviderOptions{
		ClusterName:     o.ClusterName,
		ClusterEndpoint: endpoint,
		CABundle:        caBundle,
		ClusterCIDR:     o.ClusterCIDR,
		// For AWSNodeTemplates that name no instance profile, as v0.31's aws.defaultInstanceProfile.
		DefaultInstanceProfile: o.DefaultInstanceProfile,
		PodNetworking:          networking,
		Tags:                   o.Tags,
		ResourceNames:          o.NodeNameConvention == operator.NodeNameResource,
		KubeClient:             kube,
		EC2:                    ec2Client,
		SSM:                    ssm.NewFromConfig(cfg),
		InstanceTypes:          instanceTypes,
		Clock:                  clk,
		// Pools a fleet found empty before launching elsewhere: the next Solve avoids them.
		UnavailableOfferings: unavailable,
		KubernetesVersion: func(context.Context) (string, error) {
			v, err := versions.ServerVersion()
			if err != nil {
				return "", fmt.Errorf("reading the API server version, %w", err)
			}
			return v.Major + "." + strings.TrimSuffix(v.Minor, "+"), nil
		},
	})
}

// EKSAPI is the EKS call Kerf makes.
type EKSAPI interface {
	DescribeCluster(ctx context.Context, in *eks.DescribeClusterInput, opts ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// clusterFacts is what EKS says of the cluster new nodes join; a field is "" where it said nothing.
type clusterFacts struct {
	endpoint, caBundle, serviceCIDR string
}

// describeCluster asks EKS, once at start, for what node bootstrap needs and the flags did not
// give: the API server's endpoint and CA, and the service range AL2023's nodeadm needs. A
// refusal (no eks:DescribeCluster permission, a cluster that is not EKS) is logged: the flags
// and the kubeconfig then decide, and an AL2023 launch is refused with the reason.
func describeCluster(ctx context.Context, log logr.Logger, name string, api EKSAPI) clusterFacts {
	out, err := api.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: awssdk.String(name)})
	if err != nil || out.Cluster == nil {
		log.Info("EKS did not describe the cluster; node bootstrap uses the flags and the kubeconfig, and AL2023 nodes need --cluster-cidr",
			"cluster", name, "error", fmt.Sprint(err))
		return clusterFacts{}
	}
	c := out.Cluster
	facts := clusterFacts{endpoint: awssdk.ToString(c.Endpoint)}
	if c.CertificateAuthority != nil {
		facts.caBundle = awssdk.ToString(c.CertificateAuthority.Data)
	}
	if n := c.KubernetesNetworkConfig; n != nil {
		facts.serviceCIDR = cmp.Or(awssdk.ToString(n.ServiceIpv4Cidr), awssdk.ToString(n.ServiceIpv6Cidr))
	}
	return facts
}

// sdkLogger sends the SDK's own messages (IMDS fallbacks, clock skew, deprecations) through the
// controller's JSON log: its default logger writes plain text to stderr, which log pipelines that
// parse every line would reject.
func sdkLogger(log logr.Logger) logging.Logger {
	log = log.WithName("aws-sdk")
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c == logging.Warn {
			log.Info("AWS SDK warning", "message", fmt.Sprintf(format, v...))
			return
		}
		log.V(1).Info("AWS SDK message", "classification", string(c), "message", fmt.Sprintf(format, v...))
	})
}

// bootstrapTarget returns the API server URL and base64 CA bundle that new nodes bootstrap against:
// the flag's endpoint, else EKS's (with EKS's CA), else the REST config's. Inside a cluster the REST
// config points at the kubernetes Service's ClusterIP, which a booting node cannot reach before
// kube-proxy runs, so one of the others must answer; the CA is read from the service account's file.
func bootstrapTarget(o *operator.Options, restConfig *rest.Config, eksCluster clusterFacts, getenv func(string) string) (endpoint, caBundle string, err error) {
	endpoint = o.ClusterEndpoint
	if endpoint == "" && eksCluster.endpoint != "" && eksCluster.caBundle != "" {
		return eksCluster.endpoint, eksCluster.caBundle, nil
	}
	if endpoint == "" {
		if host := getenv("KUBERNETES_SERVICE_HOST"); host != "" && hostname(restConfig.Host) == host {
			return "", "", fmt.Errorf("--cluster-endpoint (env CLUSTER_ENDPOINT) is required in a cluster when eks:DescribeCluster cannot tell it: the API server address %s is a Service address that booting nodes cannot reach", restConfig.Host)
		}
		endpoint = restConfig.Host
	}
	tls := rest.CopyConfig(restConfig)
	if err := rest.LoadTLSFiles(tls); err != nil {
		return "", "", fmt.Errorf("reading the cluster CA for node bootstrap, %w", err)
	}
	if len(tls.CAData) == 0 {
		// Nodes would bootstrap with no CA and fail TLS against the API server, long after launch.
		return "", "", fmt.Errorf("reading the cluster CA for node bootstrap: the kubeconfig or service account names no CA")
	}
	return endpoint, base64.StdEncoding.EncodeToString(tls.CAData), nil
}

// hostname is the host part of a REST config's Host, which may or may not carry a scheme and port.
func hostname(host string) string {
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
