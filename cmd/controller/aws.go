package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

// newAWS builds the AWS cloud provider from the options and the cluster's own REST config: the API
// server's address and CA go into node bootstrap unless --cluster-endpoint says otherwise, and the
// server's version picks the EKS-optimized images. The SDK's standard chain supplies credentials
// (and honours AWS_ENDPOINT_URL, which the sandbox points at awsim).
func newAWS(ctx context.Context, o *operator.Options, restConfig *rest.Config, kube client.Reader, clk clock.Clock) (*aws.CloudProvider, error) {
	var loadOpts []func(*config.LoadOptions) error
	if o.AWSRegion != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.AWSRegion))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration, %w", err)
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
	instanceTypes, err := aws.NewInstanceTypeProvider(ec2Client, prices, clk, o.VMMemoryOverheadPercent)
	if err != nil {
		return nil, err
	}
	versions, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("building discovery client, %w", err)
	}
	endpoint := o.ClusterEndpoint
	if endpoint == "" {
		endpoint = restConfig.Host
	}
	return aws.NewCloudProvider(aws.CloudProviderOptions{
		ClusterName:     o.ClusterName,
		ClusterEndpoint: endpoint,
		CABundle:        base64.StdEncoding.EncodeToString(restConfig.CAData),
		KubeClient:      kube,
		EC2:             ec2Client,
		SSM:             ssm.NewFromConfig(cfg),
		InstanceTypes:   instanceTypes,
		Clock:           clk,
		KubernetesVersion: func(context.Context) (string, error) {
			v, err := versions.ServerVersion()
			if err != nil {
				return "", fmt.Errorf("reading the API server version, %w", err)
			}
			return v.Major + "." + strings.TrimSuffix(v.Minor, "+"), nil
		},
	})
}
