// Package provisioning turns pending pods into Machines: the batcher that groups unschedulable
// pods, the provisioner controller that solves a batch and creates Machines, and the Machine
// lifecycle (launch, register, initialize, liveness).
package provisioning
