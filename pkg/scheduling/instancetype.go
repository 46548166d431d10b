package scheduling

import (
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// InstanceType is one kind of machine a Provisioner may launch. pkg/cloudprovider builds these from
// EC2's catalogue and pricing; the simulation only reads them.
type InstanceType struct {
	Name string
	// Requirements are the instance type's labels (instance-type, arch, os, the karpenter.k8s.aws/*
	// family, size, cpu ...). Zone and capacity type may be omitted: the simulation derives them
	// from the offerings.
	Requirements Requirements
	// Capacity is what the machine has: cpu, memory, pods, ephemeral-storage, extended resources.
	Capacity v1.ResourceList
	// Overhead is what the kubelet keeps back from pods.
	Overhead  Overhead
	Offerings Offerings
}

// Overhead is capacity that pods can never use.
type Overhead struct {
	KubeReserved      v1.ResourceList
	SystemReserved    v1.ResourceList
	EvictionThreshold v1.ResourceList
}

// Total is the sum of all reservations.
func (o Overhead) Total() v1.ResourceList {
	return AddResources(o.KubeReserved, o.SystemReserved, o.EvictionThreshold)
}

// Allocatable is capacity less overhead, never negative: what pods may request on a fresh node.
func (it *InstanceType) Allocatable() v1.ResourceList {
	return SubtractResources(it.Capacity, it.Overhead.Total())
}

// Offering is one way to buy an instance type: a zone and capacity type at an hourly price, and
// whether EC2 currently has it (an insufficient-capacity error marks it unavailable for a while).
type Offering struct {
	Zone         string
	CapacityType string
	Price        float64
	Available    bool
}

// Offerings is a list of offerings with filters that keep the order.
type Offerings []Offering

// Available keeps the offerings that can be bought now.
func (os Offerings) Available() Offerings {
	return slices.DeleteFunc(slices.Clone(os), func(o Offering) bool { return !o.Available })
}

// Compatible keeps offerings whose zone and capacity type reqs allow.
func (os Offerings) Compatible(reqs Requirements) Offerings {
	return slices.DeleteFunc(slices.Clone(os), func(o Offering) bool { return !o.compatible(reqs) })
}

func (o Offering) compatible(reqs Requirements) bool {
	if r, ok := reqs.Get(LabelZone); ok && !r.Has(o.Zone) {
		return false
	}
	if r, ok := reqs.Get(LabelCapacityType); ok && !r.Has(o.CapacityType) {
		return false
	}
	return true
}

// Cheapest returns the lowest-priced offering (ties: zone, then capacity type), false when empty.
func (os Offerings) Cheapest() (Offering, bool) {
	if len(os) == 0 {
		return Offering{}, false
	}
	best := os[0]
	for _, o := range os[1:] {
		if o.Price < best.Price || (o.Price == best.Price && (o.Zone < best.Zone ||
			(o.Zone == best.Zone && o.CapacityType < best.CapacityType))) {
			best = o
		}
	}
	return best, true
}

// cheapestAvailablePrice is the price of the cheapest available offering that reqs allow, or +Inf.
func (os Offerings) cheapestAvailablePrice(reqs Requirements) float64 {
	price := math.Inf(1)
	for _, o := range os {
		if o.Available && o.Price < price && o.compatible(reqs) {
			price = o.Price
		}
	}
	return price
}

// requirementsWithOfferings returns the instance type's requirements with zone and capacity type
// narrowed to what its available offerings provide.
func (it *InstanceType) requirementsWithOfferings() Requirements {
	var zones, capacityTypes []string
	for _, o := range it.Offerings {
		if o.Available {
			zones = append(zones, o.Zone)
			capacityTypes = append(capacityTypes, o.CapacityType)
		}
	}
	return it.Requirements.With(In(LabelZone, zones...)).With(In(LabelCapacityType, capacityTypes...))
}

// WithoutOfferings returns the instance types with the offerings unavailable names marked not
// available. The given values may be shared (a provider's cache), so changed ones are copied.
func WithoutOfferings(instanceTypes []*InstanceType, unavailable func(instanceType, zone, capacityType string) bool) []*InstanceType {
	out := make([]*InstanceType, len(instanceTypes))
	for i, it := range instanceTypes {
		out[i] = it
		for j, o := range it.Offerings {
			if !o.Available || !unavailable(it.Name, o.Zone, o.CapacityType) {
				continue
			}
			if out[i] == it {
				copied := *it
				copied.Offerings = append(Offerings(nil), it.Offerings...)
				out[i] = &copied
			}
			out[i].Offerings[j].Available = false
		}
	}
	return out
}
