// Package awsim is an AWS stand-in for tests and the local sandbox: one HTTP server that speaks
// the wire protocols of the AWS services Kerf calls, so the real aws-sdk-go-v2 clients talk to it
// unchanged with only a different endpoint URL.
//
// It owns a deterministic simulated world (a region with three zones, a cluster VPC with tagged
// subnets and security groups, EKS-optimized AMIs, the EC2 instance-type catalog with on-demand
// and modelled spot prices, instances, launch templates and SQS queues) and the knobs to bend it:
// per-pool capacity, per-action faults, boot delays, spot interruptions and AMI releases. Knobs
// are reachable from Go (World methods) and over HTTP under /_awsim/ (JSON).
//
// Protocols served on one listener:
//   - EC2 Query (form-encoded, XML responses, EC2 error XML), chosen by Action= with an EC2 Version;
//   - SQS JSON 1.0 (X-Amz-Target AmazonSQS.*) and SQS Query (Version 2012-11-05);
//   - SSM JSON 1.1 (AmazonSSM.*) and Pricing JSON 1.1 (AWSPriceListService.*).
//
// Requests must carry a SigV4 Authorization header (any credentials are accepted). Time comes
// from an injected clock.Clock; nothing in the world moves unless that clock does, so tests step a
// fake clock instead of sleeping.
//
// The simkubelet sub-package turns running instances into Nodes, reading their user data.
//
// awsim must not import other Kerf packages: it stands in for AWS, not for Kerf.
package awsim
