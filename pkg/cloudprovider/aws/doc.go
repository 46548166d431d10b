// Package aws implements the cloudprovider interface on EC2: instance types, pricing, subnets,
// security groups, AMIs, launch templates, EC2 Fleet launches, the unavailable-offerings cache and
// the interruption queue. One file or sub-package per AWS concept.
package aws
