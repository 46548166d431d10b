package scheduling

import (
	"cmp"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Volumes constrain a pod in two ways, as the kube-scheduler's VolumeBinding and NodeVolumeLimits
// plugins do:
//   - topology: a bound PersistentVolume's node affinity, or for a claim that binds when its first
//     consumer is scheduled (WaitForFirstConsumer), its StorageClass's allowedTopologies;
//   - attach limits: a node may attach at most so many volumes of each CSI driver (CSINode's
//     allocatable count). Only existing and in-flight nodes carry known limits.
//
// A claim that cannot bind to whatever node the pod lands on (missing, or unbound under Immediate
// binding) makes the pod unschedulable: launching a node for it now would guess the volume's zone.

// maxVolumeAlternatives caps how many (pod term × volume term) combinations a pod keeps; beyond it
// the rest, in declaration order, are dropped.
const maxVolumeAlternatives = 64

// ebsCSIDriver is the driver in-tree awsElasticBlockStore volumes migrate to.
const ebsCSIDriver = "ebs.csi.aws.com"

// volumeCatalog indexes the Snapshot's claims, volumes and classes for lookups.
type volumeCatalog struct {
	claims       map[PodKey]*v1.PersistentVolumeClaim
	volumes      map[string]*v1.PersistentVolume
	classes      map[string]*storagev1.StorageClass
	defaultClass *storagev1.StorageClass
}

func newVolumeCatalog(snap Snapshot) volumeCatalog {
	c := volumeCatalog{
		claims:  map[PodKey]*v1.PersistentVolumeClaim{},
		volumes: map[string]*v1.PersistentVolume{},
		classes: map[string]*storagev1.StorageClass{},
	}
	for _, pvc := range snap.PersistentVolumeClaims {
		c.claims[PodKey{Namespace: pvc.Namespace, Name: pvc.Name}] = pvc
	}
	for _, pv := range snap.PersistentVolumes {
		c.volumes[pv.Name] = pv
	}
	var defaults []*storagev1.StorageClass
	for _, sc := range snap.StorageClasses {
		c.classes[sc.Name] = sc
		if sc.Annotations[annotationDefaultStorageClass] == "true" {
			defaults = append(defaults, sc)
		}
	}
	// With several defaults the API server picks the newest; the name breaks ties.
	slices.SortFunc(defaults, func(a, b *storagev1.StorageClass) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	if len(defaults) > 0 {
		c.defaultClass = defaults[0]
	}
	return c
}

const annotationDefaultStorageClass = "storageclass.kubernetes.io/is-default-class"

// volumeTopology is where one of a pod's volumes can be used: any of alternatives.
type volumeTopology struct {
	source       string // e.g. "PersistentVolumeClaim default/data (PersistentVolume pv-1 node affinity)"
	alternatives []Requirements
}

// attachment is one volume a pod attaches to its node, counted against the driver's limit.
// Pods sharing a claim attach it once.
type attachment struct {
	driver string
	claim  PodKey
}

// volumeError makes a pod unschedulable everywhere because of its volumes.
type volumeError struct {
	code    ReasonCode
	message string
}

func (e *volumeError) Error() string { return e.message }

// podVolumes resolves every claim a pod mounts: where it can be used and what it attaches.
func (c volumeCatalog) podVolumes(pod *v1.Pod) ([]volumeTopology, []attachment, error) {
	var topologies []volumeTopology
	var attachments []attachment
	for _, vol := range pod.Spec.Volumes {
		key, spec, err := c.claimOf(pod, vol)
		if err != nil {
			return nil, nil, err
		}
		if spec == nil {
			continue
		}
		topo, driver, err := c.claimTopology(key, spec)
		if err != nil {
			return nil, nil, err
		}
		if len(topo.alternatives) > 0 {
			topologies = append(topologies, topo)
		}
		if driver != "" {
			attachments = append(attachments, attachment{driver: driver, claim: key})
		}
	}
	return topologies, attachments, nil
}

// boundAttachments lists what a pod already running attaches; claims that cannot be resolved
// are skipped, since the pod is there regardless.
func (c volumeCatalog) boundAttachments(pod *v1.Pod) []attachment {
	var out []attachment
	for _, vol := range pod.Spec.Volumes {
		key, spec, err := c.claimOf(pod, vol)
		if err != nil || spec == nil {
			continue
		}
		if _, driver, err := c.claimTopology(key, spec); err == nil && driver != "" {
			out = append(out, attachment{driver: driver, claim: key})
		}
	}
	return out
}

// claimOf finds the claim behind a pod volume. A generic ephemeral volume's claim is named
// <pod>-<volume>; before its controller creates it, the template's spec stands in.
func (c volumeCatalog) claimOf(pod *v1.Pod, vol v1.Volume) (PodKey, *v1.PersistentVolumeClaimSpec, error) {
	switch {
	case vol.PersistentVolumeClaim != nil:
		key := PodKey{Namespace: pod.Namespace, Name: vol.PersistentVolumeClaim.ClaimName}
		pvc, ok := c.claims[key]
		if !ok {
			return key, nil, &volumeError{ReasonVolumeNotFound, fmt.Sprintf("PersistentVolumeClaim %s not found", key)}
		}
		return key, &pvc.Spec, nil
	case vol.Ephemeral != nil:
		key := PodKey{Namespace: pod.Namespace, Name: pod.Name + "-" + vol.Name}
		if pvc, ok := c.claims[key]; ok {
			return key, &pvc.Spec, nil
		}
		if vol.Ephemeral.VolumeClaimTemplate == nil {
			return key, nil, nil
		}
		return key, &vol.Ephemeral.VolumeClaimTemplate.Spec, nil
	default:
		return PodKey{}, nil, nil
	}
}

// claimTopology returns where the claim's data can be reached and the CSI driver attaching it.
func (c volumeCatalog) claimTopology(key PodKey, spec *v1.PersistentVolumeClaimSpec) (volumeTopology, string, error) {
	if spec.VolumeName != "" {
		pv, ok := c.volumes[spec.VolumeName]
		if !ok {
			return volumeTopology{}, "", &volumeError{ReasonVolumeNotFound, fmt.Sprintf("PersistentVolume %s of PersistentVolumeClaim %s not found", spec.VolumeName, key)}
		}
		alternatives, err := persistentVolumeRequirements(pv)
		if err != nil {
			return volumeTopology{}, "", &volumeError{ReasonInvalidPod, fmt.Sprintf("PersistentVolume %s node affinity, %v", pv.Name, err)}
		}
		source := fmt.Sprintf("PersistentVolumeClaim %s (PersistentVolume %s node affinity)", key, pv.Name)
		return volumeTopology{source: source, alternatives: alternatives}, volumeDriver(pv), nil
	}
	class := c.defaultClass
	if spec.StorageClassName != nil {
		class = nil
		if *spec.StorageClassName != "" {
			sc, ok := c.classes[*spec.StorageClassName]
			if !ok {
				return volumeTopology{}, "", &volumeError{ReasonVolumeNotFound, fmt.Sprintf("StorageClass %s of PersistentVolumeClaim %s not found", *spec.StorageClassName, key)}
			}
			class = sc
		}
	}
	if class == nil {
		return volumeTopology{}, "", &volumeError{ReasonVolumeNotBound, fmt.Sprintf("PersistentVolumeClaim %s has no StorageClass and waits for a PersistentVolume to bind", key)}
	}
	if class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		return volumeTopology{}, "", &volumeError{ReasonVolumeNotBound, fmt.Sprintf("PersistentVolumeClaim %s is not bound yet and StorageClass %s binds immediately, so its zone is unknown", key, class.Name)}
	}
	source := fmt.Sprintf("PersistentVolumeClaim %s (StorageClass %s allowedTopologies)", key, class.Name)
	return volumeTopology{source: source, alternatives: allowedTopologyRequirements(class)}, class.Provisioner, nil
}

func volumeDriver(pv *v1.PersistentVolume) string {
	switch {
	case pv.Spec.CSI != nil:
		return pv.Spec.CSI.Driver
	case pv.Spec.AWSElasticBlockStore != nil:
		return ebsCSIDriver
	default:
		return ""
	}
}

// persistentVolumeRequirements converts a PV's required node affinity terms (any one must hold).
func persistentVolumeRequirements(pv *v1.PersistentVolume) ([]Requirements, error) {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return nil, nil
	}
	var out []Requirements
	for i, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		var reqs Requirements
		for _, e := range term.MatchExpressions {
			r, err := NewRequirement(normalizedVolumeKey(e.Key), e.Operator, e.Values...)
			if err != nil {
				return nil, fmt.Errorf("term %d, %w", i, err)
			}
			reqs = reqs.With(r)
		}
		for _, f := range term.MatchFields {
			r, err := NewRequirement(LabelHostname, f.Operator, f.Values...)
			if err != nil {
				return nil, fmt.Errorf("term %d, %w", i, err)
			}
			reqs = reqs.With(r)
		}
		out = append(out, reqs)
	}
	return out, nil
}

// allowedTopologyRequirements converts a StorageClass's allowedTopologies (any one term holds).
func allowedTopologyRequirements(sc *storagev1.StorageClass) []Requirements {
	var out []Requirements
	for _, term := range sc.AllowedTopologies {
		var reqs Requirements
		for _, e := range term.MatchLabelExpressions {
			reqs = reqs.With(In(normalizedVolumeKey(e.Key), e.Values...))
		}
		out = append(out, reqs)
	}
	return out
}

// normalizedVolumeKey maps the zone and region keys storage drivers write onto the well-known ones
// that new nodes are labelled with; the values are the same zone and region names.
func normalizedVolumeKey(key string) string {
	switch key {
	case "topology.ebs.csi.aws.com/zone", v1.LabelFailureDomainBetaZone:
		return v1.LabelTopologyZone
	case v1.LabelFailureDomainBetaRegion:
		return v1.LabelTopologyRegion
	default:
		return key
	}
}

// withVolumeTopology ANDs the pod's node requirement alternatives with each volume's: every
// combination that some node could meet. It returns an error naming the volume when none can.
func withVolumeTopology(podReqs []Requirements, volumes []volumeTopology) ([]Requirements, error) {
	out := podReqs
	for _, vt := range volumes {
		var next []Requirements
		for _, base := range out {
			for _, alt := range vt.alternatives {
				combined := base.Intersect(alt)
				if satisfiable(combined) && len(next) < maxVolumeAlternatives {
					next = append(next, combined)
				}
			}
		}
		if len(next) == 0 {
			return nil, &volumeError{ReasonVolumeTopology, fmt.Sprintf("%s needs %s, which the pod's own node selector and affinity exclude",
				vt.source, describeAlternatives(vt.alternatives))}
		}
		out = next
	}
	return out, nil
}

func describeAlternatives(alts []Requirements) string {
	out := ""
	for i, a := range alts {
		if i > 0 {
			out += " or "
		}
		out += a.String()
	}
	return out
}

// nodeVolumes tracks the volumes attached to an existing node against its per-driver limits.
type nodeVolumes struct {
	limits   map[string]int32
	attached map[string]map[PodKey]bool // driver → claims
}

func newNodeVolumes(limits map[string]int32) *nodeVolumes {
	if len(limits) == 0 {
		return nil
	}
	return &nodeVolumes{limits: limits, attached: map[string]map[PodKey]bool{}}
}

// fits reports whether the node can attach want too, naming the first driver over its limit.
func (nv *nodeVolumes) fits(want []attachment) (string, bool) {
	if nv == nil {
		return "", true
	}
	extra := map[string]int32{}
	for i, a := range want {
		limit, limited := nv.limits[a.driver]
		if !limited || nv.attached[a.driver][a.claim] || slices.Contains(want[:i], a) {
			continue
		}
		extra[a.driver]++
		if int32(len(nv.attached[a.driver]))+extra[a.driver] > limit {
			return a.driver, false
		}
	}
	return "", true
}

func (nv *nodeVolumes) add(want []attachment) {
	if nv == nil {
		return
	}
	for _, a := range want {
		if nv.attached[a.driver] == nil {
			nv.attached[a.driver] = map[PodKey]bool{}
		}
		nv.attached[a.driver][a.claim] = true
	}
}
