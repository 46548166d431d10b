package v1alpha1

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
)

// Annotations recording, on a Machine and its Node, which AWSNodeTemplate static fields its
// instance was launched with; static drift compares them with the template as it is now.
const (
	// NodeTemplateHashAnnotationKey holds AWSNodeTemplate.Hash() at launch, under Karpenter
	// v0.31's name.
	NodeTemplateHashAnnotationKey = "karpenter.k8s.aws/nodetemplate-hash"
	// NodeTemplateHashVersionAnnotationKey says which algorithm computed the hash. A Machine that
	// Karpenter launched carries Karpenter's own hash under the same key, computed differently:
	// without this mark Kerf would take every such node for drifted.
	NodeTemplateHashVersionAnnotationKey = "kerf.sh/nodetemplate-hash-version"
	// NodeTemplateHashVersion is the version Hash computes. Change it whenever a change to Hash
	// would give an unchanged template another hash, so existing nodes are not all replaced.
	NodeTemplateHashVersion = "v1"
)

// nodeTemplateStatic is what a node template's hash covers. The selectors are left out: what
// they resolve to changes without the template changing (a new AMI release, a subnet tagged),
// so drift compares the instance with their answer now instead.
//
// +kubebuilder:object:generate=false
type nodeTemplateStatic struct {
	AMIFamily           *string               `json:"amiFamily,omitempty"`
	UserData            *string               `json:"userData,omitempty"`
	Context             *string               `json:"context,omitempty"`
	InstanceProfile     *string               `json:"instanceProfile,omitempty"`
	Tags                map[string]string     `json:"tags,omitempty"`
	LaunchTemplate      *string               `json:"launchTemplate,omitempty"`
	MetadataOptions     *MetadataOptions      `json:"metadataOptions,omitempty"`
	BlockDeviceMappings []*BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`
	DetailedMonitoring  *bool                 `json:"detailedMonitoring,omitempty"`
}

// Hash is a stable hash of the template's static fields: AMI family, user data, context,
// instance profile, tags, launch template name, metadata options, block device mappings and
// detailed monitoring. It is FNV-64a over their JSON, in decimal. Map order does not matter;
// the order of block device mappings does. Fields hash as written: spelling out a default
// (amiFamily AL2, the default metadata options) changes the hash.
func (t *AWSNodeTemplate) Hash() string {
	s := t.Spec
	return hashJSON(nodeTemplateStatic{AMIFamily: s.AMIFamily, UserData: s.UserData, Context: s.Context,
		InstanceProfile: s.InstanceProfile, Tags: s.Tags, LaunchTemplate: s.LaunchTemplate, MetadataOptions: s.MetadataOptions,
		BlockDeviceMappings: s.BlockDeviceMappings, DetailedMonitoring: s.DetailedMonitoring})
}

// HashAnnotations are the annotations a Machine launched from t now records.
func (t *AWSNodeTemplate) HashAnnotations() map[string]string {
	return map[string]string{NodeTemplateHashAnnotationKey: t.Hash(), NodeTemplateHashVersionAnnotationKey: NodeTemplateHashVersion}
}

// StaticFieldsDrifted reports whether annotations (a Machine's or a Node's) record a hash of t's
// static fields that differs from t's now. Without a hash, or with one of another version
// (Karpenter's, an older Kerf's), it cannot tell and says no: replacing every node launched
// before the hash was recorded would be worse than missing their drift.
func (t *AWSNodeTemplate) StaticFieldsDrifted(annotations map[string]string) bool {
	recorded, ok := annotations[NodeTemplateHashAnnotationKey]
	if !ok || annotations[NodeTemplateHashVersionAnnotationKey] != NodeTemplateHashVersion {
		return false
	}
	return recorded != t.Hash()
}

// hashJSON is FNV-64a of v's JSON. encoding/json writes map keys sorted, so map order never
// counts.
func hashJSON(v any) string {
	h := fnv.New64a()
	// Cannot fail: v holds strings, numbers, booleans, maps of strings and Quantities.
	_ = json.NewEncoder(h).Encode(v)
	return strconv.FormatUint(h.Sum64(), 10)
}
