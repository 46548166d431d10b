// Package operator builds what every controller shares, once, and passes it explicitly: the
// options (flags with environment fallbacks, validated at start), the logger, the metrics
// registry, the clock and the controller-runtime manager with leader election and health probes.
// It must not import cloud SDKs; cmd/controller wires a cloud provider in. (Its end-to-end test
// does import the AWS provider, to run the controllers against awsim.)
package operator
