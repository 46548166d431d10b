package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AMI families Kerf knows how to bootstrap.
const (
	AMIFamilyAL2          = "AL2"
	AMIFamilyAL2023       = "AL2023"
	AMIFamilyBottlerocket = "Bottlerocket"
	AMIFamilyUbuntu       = "Ubuntu"
	AMIFamilyWindows2019  = "Windows2019"
	AMIFamilyWindows2022  = "Windows2022"
	AMIFamilyCustom       = "Custom"
)

// AWSNodeTemplateSpec describes how instances are launched: network, image, disks and metadata.
//
// +kubebuilder:validation:XValidation:rule="!has(self.amiFamily) || self.amiFamily != 'Custom' || has(self.amiSelector)",message="amiSelector is required when amiFamily is Custom",fieldPath=".amiSelector"
// +kubebuilder:validation:XValidation:rule="has(self.launchTemplate) || has(self.securityGroupSelector)",message="securityGroupSelector is required unless launchTemplate is set",fieldPath=".securityGroupSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.launchTemplate) || !has(self.securityGroupSelector)",message="launchTemplate and securityGroupSelector are mutually exclusive: the launch template carries its security groups",fieldPath=".securityGroupSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.launchTemplate) || !has(self.userData)",message="launchTemplate and userData are mutually exclusive: the launch template carries its user data",fieldPath=".userData"
// +kubebuilder:validation:XValidation:rule="!has(self.launchTemplate) || !has(self.amiSelector)",message="launchTemplate and amiSelector are mutually exclusive: the launch template carries its image",fieldPath=".amiSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.launchTemplate) || !has(self.blockDeviceMappings)",message="launchTemplate and blockDeviceMappings are mutually exclusive: the launch template carries its block devices",fieldPath=".blockDeviceMappings"
// +kubebuilder:validation:XValidation:rule="!has(self.launchTemplate) || !has(self.metadataOptions)",message="launchTemplate and metadataOptions are mutually exclusive: the launch template carries its metadata options",fieldPath=".metadataOptions"
type AWSNodeTemplateSpec struct {
	// SubnetSelector picks subnets by tag (values may be "*"), or by id with the key aws-ids.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=30
	SubnetSelector map[string]string `json:"subnetSelector"`
	// SecurityGroupSelector picks security groups by tag, or by id with the key aws-ids.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=30
	// +optional
	SecurityGroupSelector map[string]string `json:"securityGroupSelector,omitempty"`
	// AMISelector picks images by tag, or with the keys aws::ids (or aws-ids), aws::name, aws::owners.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=30
	// +optional
	AMISelector map[string]string `json:"amiSelector,omitempty"`
	// AMIFamily decides the default image and how user data bootstraps the node.
	// +kubebuilder:validation:Enum=AL2;AL2023;Bottlerocket;Ubuntu;Windows2019;Windows2022;Custom
	// +optional
	AMIFamily *string `json:"amiFamily,omitempty"`
	// UserData is merged with the bootstrap user data of the AMI family.
	// +optional
	UserData *string `json:"userData,omitempty"`
	// Context is the Capacity Reservation or ODCR context passed to EC2 Fleet.
	// +optional
	Context *string `json:"context,omitempty"`
	// InstanceProfile is the IAM instance profile of the nodes.
	// +optional
	InstanceProfile *string `json:"instanceProfile,omitempty"`
	// Tags are applied to every instance, volume and launch template.
	// +kubebuilder:validation:MaxProperties=50
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('kubernetes.io/cluster/') && k != 'karpenter.sh/provisioner-name' && k != 'karpenter.sh/managed-by' && k != 'karpenter.k8s.aws/cluster')",message="tags kubernetes.io/cluster/*, karpenter.sh/provisioner-name, karpenter.sh/managed-by and karpenter.k8s.aws/cluster are set by Kerf"
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
	// LaunchTemplate is the name of a launch template to use instead of one Kerf generates.
	// Deprecated in Karpenter; kept so existing manifests apply.
	// +kubebuilder:validation:MinLength=1
	// +optional
	LaunchTemplate *string `json:"launchTemplate,omitempty"`
	// MetadataOptions for the instance metadata service. When unset: endpoint enabled, IMDSv2
	// required (httpTokens required), hop limit 2, IPv6 endpoint disabled.
	// +optional
	MetadataOptions *MetadataOptions `json:"metadataOptions,omitempty"`
	// BlockDeviceMappings of the instances; the AMI family's defaults when unset.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	BlockDeviceMappings []*BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`
	// DetailedMonitoring turns on one-minute CloudWatch metrics.
	// +optional
	DetailedMonitoring *bool `json:"detailedMonitoring,omitempty"`
}

// MetadataOptions configure the instance metadata service.
type MetadataOptions struct {
	// HTTPEndpoint turns the metadata endpoint on or off.
	// +kubebuilder:validation:Enum=enabled;disabled
	// +optional
	HTTPEndpoint *string `json:"httpEndpoint,omitempty"`
	// HTTPProtocolIPv6 turns the IPv6 metadata endpoint on or off.
	// +kubebuilder:validation:Enum=enabled;disabled
	// +optional
	HTTPProtocolIPv6 *string `json:"httpProtocolIPv6,omitempty"`
	// HTTPPutResponseHopLimit is the hop limit of metadata PUT responses.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	// +optional
	HTTPPutResponseHopLimit *int64 `json:"httpPutResponseHopLimit,omitempty"`
	// HTTPTokens: required means IMDSv2 only.
	// +kubebuilder:validation:Enum=required;optional
	// +optional
	HTTPTokens *string `json:"httpTokens,omitempty"`
}

// DefaultMetadataOptions are applied at launch to the fields a template leaves unset; they are never
// written back into the user's object.
func DefaultMetadataOptions() MetadataOptions {
	endpoint, ipv6, tokens, hops := "enabled", "disabled", "required", int64(2)
	return MetadataOptions{HTTPEndpoint: &endpoint, HTTPProtocolIPv6: &ipv6, HTTPTokens: &tokens, HTTPPutResponseHopLimit: &hops}
}

// BlockDeviceMapping attaches a volume to a device name.
type BlockDeviceMapping struct {
	// DeviceName, e.g. /dev/xvda.
	// +optional
	DeviceName *string `json:"deviceName,omitempty"`
	// EBS volume to attach.
	// +optional
	EBS *BlockDevice `json:"ebs,omitempty"`
}

// BlockDevice is an EBS volume.
type BlockDevice struct {
	// DeleteOnTermination deletes the volume with the instance.
	// +optional
	DeleteOnTermination *bool `json:"deleteOnTermination,omitempty"`
	// Encrypted encrypts the volume.
	// +optional
	Encrypted *bool `json:"encrypted,omitempty"`
	// IOPS for io1, io2 and gp3 volumes.
	// +kubebuilder:validation:Minimum=100
	// +optional
	IOPS *int64 `json:"iops,omitempty"`
	// KMSKeyID encrypts the volume with this key.
	// +optional
	KMSKeyID *string `json:"kmsKeyID,omitempty"`
	// SnapshotID to create the volume from.
	// +optional
	SnapshotID *string `json:"snapshotID,omitempty"`
	// Throughput in MiB/s for gp3 volumes.
	// +kubebuilder:validation:Minimum=125
	// +optional
	Throughput *int64 `json:"throughput,omitempty"`
	// VolumeSize between 1Gi and 64Ti, e.g. 100Gi.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="type(self) == string",message="volumeSize must be a quantity with its unit, e.g. 100Gi: a bare integer is a number of bytes (Karpenter v0.31 launched a 1 GB volume for it, which no EKS image fits)"
	// +kubebuilder:validation:XValidation:rule="type(self) != string || (isQuantity(self) && quantity(self).compareTo(quantity('1Gi')) >= 0 && quantity(self).compareTo(quantity('64Ti')) <= 0)",message="volumeSize must be a quantity between 1Gi and 64Ti, e.g. 100Gi"
	// +optional
	VolumeSize *resource.Quantity `json:"volumeSize,omitempty"`
	// VolumeType of the EBS volume.
	// +kubebuilder:validation:Enum=standard;io1;io2;gp2;sc1;st1;gp3
	// +optional
	VolumeType *string `json:"volumeType,omitempty"`
}

// AWSNodeTemplateStatus holds what the selectors resolved to.
type AWSNodeTemplateStatus struct {
	// Subnets the subnetSelector resolved to.
	// +optional
	Subnets []Subnet `json:"subnets,omitempty"`
	// SecurityGroups the securityGroupSelector resolved to.
	// +optional
	SecurityGroups []SecurityGroup `json:"securityGroups,omitempty"`
	// AMIs the amiSelector or the AMI family resolved to.
	// +optional
	AMIs []AMI `json:"amis,omitempty"`
}

// Subnet is a resolved subnet.
type Subnet struct {
	// ID of the subnet.
	ID string `json:"id"`
	// Zone of the subnet.
	// +optional
	Zone string `json:"zone,omitempty"`
}

// SecurityGroup is a resolved security group.
type SecurityGroup struct {
	// ID of the security group.
	ID string `json:"id"`
	// Name of the security group.
	// +optional
	Name string `json:"name,omitempty"`
}

// AMI is a resolved image and the instances it suits.
type AMI struct {
	// ID of the image.
	ID string `json:"id"`
	// Name of the image.
	// +optional
	Name string `json:"name,omitempty"`
	// Requirements an instance type must meet to use this image (architecture, accelerators).
	// +optional
	Requirements []corev1.NodeSelectorRequirement `json:"requirements,omitempty"`
}

// AWSNodeTemplate is the AWS-specific part of a Provisioner's nodes.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=awsnodetemplates,scope=Cluster,categories=karpenter
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="AMI Family",type="string",JSONPath=".spec.amiFamily"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type AWSNodeTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AWSNodeTemplateSpec   `json:"spec,omitempty"`
	Status AWSNodeTemplateStatus `json:"status,omitempty"`
}

// AWSNodeTemplateList is a list of AWSNodeTemplates.
//
// +kubebuilder:object:root=true
type AWSNodeTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AWSNodeTemplate `json:"items"`
}
