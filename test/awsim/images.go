package awsim

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// image is an AMI. Every EKS-optimized family is published per Kubernetes minor version, and a
// release publishes them all at once, as the EKS and Bottlerocket pipelines do.
type image struct {
	ID, Name, Arch, Description, OwnerID, OwnerAlias string
	Created                                          time.Time
	Release                                          int
	Tags                                             []tag
}

// amiVariant is one EKS-optimized AMI family: how its images are named and which public SSM
// parameters point at the latest one.
type amiVariant struct {
	arch     string
	name     func(k8s, date string, release int) string
	imageID  string // SSM path with %s for the Kubernetes version
	version  string // SSM path of the release version parameter
	bottle   bool
	describe string
}

const (
	eksAMIOwner         = "602401143452"
	bottlerocketOwner   = "092701018921"
	firstK8sMinor       = 28
	lastK8sMinor        = 36
	ssmEKSPrefix        = "/aws/service/eks/optimized-ami/%s/"
	ssmBottlerocketPath = "/aws/service/bottlerocket/aws-k8s-%s"
)

func amiVariants() []amiVariant {
	al2 := func(infix string) func(k, d string, _ int) string {
		return func(k, d string, _ int) string { return fmt.Sprintf("amazon-eks-%snode-%s-v%s", infix, k, d) }
	}
	al2023 := func(arch, flavor string) func(k, d string, _ int) string {
		return func(k, d string, _ int) string {
			return fmt.Sprintf("amazon-eks-node-al2023-%s-%s-%s-v%s", arch, flavor, k, d)
		}
	}
	br := func(suffix, arch string) func(k, d string, r int) string {
		return func(k, _ string, r int) string {
			return fmt.Sprintf("bottlerocket-aws-k8s-%s%s-%s-v1.%d.0-%08x", k, suffix, arch, 40+r, uint32(hash64(int64(r), k, suffix, arch)))
		}
	}
	v := []amiVariant{
		{arch: "x86_64", name: al2(""), imageID: ssmEKSPrefix + "amazon-linux-2/recommended/image_id", version: ssmEKSPrefix + "amazon-linux-2/recommended/release_version", describe: "EKS Kubernetes Worker AMI with AmazonLinux2 image"},
		{arch: "arm64", name: al2("arm64-"), imageID: ssmEKSPrefix + "amazon-linux-2-arm64/recommended/image_id", version: ssmEKSPrefix + "amazon-linux-2-arm64/recommended/release_version", describe: "EKS Kubernetes Worker AMI with AmazonLinux2 image"},
		{arch: "x86_64", name: al2("gpu-"), imageID: ssmEKSPrefix + "amazon-linux-2-gpu/recommended/image_id", version: ssmEKSPrefix + "amazon-linux-2-gpu/recommended/release_version", describe: "EKS Kubernetes Worker AMI with AmazonLinux2 image, (k8s: accelerated)"},
	}
	for _, a := range []struct{ arch, flavor string }{{"x86_64", "standard"}, {"arm64", "standard"}, {"x86_64", "nvidia"}, {"arm64", "nvidia"}, {"x86_64", "neuron"}} {
		path := ssmEKSPrefix + "amazon-linux-2023/" + a.arch + "/" + a.flavor + "/recommended/"
		v = append(v, amiVariant{arch: a.arch, name: al2023(a.arch, a.flavor), imageID: path + "image_id", version: path + "release_version",
			describe: "EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s, containerd) " + a.flavor})
	}
	for _, a := range []struct{ suffix, arch string }{{"", "x86_64"}, {"", "arm64"}, {"-nvidia", "x86_64"}, {"-nvidia", "arm64"}} {
		path := ssmBottlerocketPath + a.suffix + "/" + a.arch + "/latest/"
		v = append(v, amiVariant{arch: a.arch, name: br(a.suffix, a.arch), imageID: path + "image_id", version: path + "image_version", bottle: true,
			describe: "Bottlerocket OS"})
	}
	return v
}

// releaseAMIs publishes a new release of every family for every supported Kubernetes version
// and points the public SSM parameters at it. Earlier releases stay describable, as on AWS.
func (w *World) releaseAMIs() {
	w.amiRelease++
	r := w.amiRelease
	date := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*(r-1)).Format("20060102")
	created := w.now()
	if r == 1 {
		created = created.Add(-24 * time.Hour)
	}
	for minor := firstK8sMinor; minor <= lastK8sMinor; minor++ {
		k8s := fmt.Sprintf("1.%d", minor)
		for _, v := range amiVariants() {
			img := &image{ID: w.newID("ami"), Name: v.name(k8s, date, r), Arch: v.arch, Description: v.describe,
				OwnerID: eksAMIOwner, OwnerAlias: "amazon", Created: created, Release: r}
			version := fmt.Sprintf("%s.0-%s", k8s, date)
			if v.bottle {
				img.OwnerID = bottlerocketOwner
				version = fmt.Sprintf("1.%d.0-%08x", 40+r, uint32(hash64(int64(r), k8s)))
			}
			w.images[img.ID] = img
			w.putParameterLocked(fmt.Sprintf(v.imageID, k8s), img.ID)
			w.putParameterLocked(fmt.Sprintf(v.version, k8s), version)
		}
	}
}

// RollAMIs publishes a new AMI release (the drift trigger) and returns its release number.
func (w *World) RollAMIs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.releaseAMIs()
	return w.amiRelease
}

type xmlEBS struct {
	SnapshotID          string `xml:"snapshotId"`
	VolumeSize          int    `xml:"volumeSize"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType"`
	Encrypted           bool   `xml:"encrypted"`
}

type xmlBlockDevice struct {
	DeviceName string `xml:"deviceName"`
	EBS        xmlEBS `xml:"ebs"`
}

type xmlImage struct {
	ImageID            string           `xml:"imageId"`
	ImageLocation      string           `xml:"imageLocation"`
	ImageState         string           `xml:"imageState"`
	ImageOwnerID       string           `xml:"imageOwnerId"`
	CreationDate       string           `xml:"creationDate"`
	IsPublic           bool             `xml:"isPublic"`
	Architecture       string           `xml:"architecture"`
	ImageType          string           `xml:"imageType"`
	ImageOwnerAlias    string           `xml:"imageOwnerAlias"`
	Name               string           `xml:"name"`
	Description        string           `xml:"description"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName"`
	BlockDeviceMapping []xmlBlockDevice `xml:"blockDeviceMapping>item"`
	VirtualizationType string           `xml:"virtualizationType"`
	Hypervisor         string           `xml:"hypervisor"`
	EnaSupport         bool             `xml:"enaSupport"`
	PlatformDetails    string           `xml:"platformDetails"`
	UsageOperation     string           `xml:"usageOperation"`
	BootMode           string           `xml:"bootMode"`
	Tags               []xmlTag         `xml:"tagSet>item,omitempty"`
}

type describeImagesResponse struct {
	Images    []xmlImage `xml:"imagesSet>item"`
	NextToken string     `xml:"nextToken,omitempty"`
}

func (w *World) describeImages(_ context.Context, p params) (any, *apiError) {
	known := fields[*image]{
		"image-id":            func(i *image) []string { return one(i.ID) },
		"name":                func(i *image) []string { return one(i.Name) },
		"architecture":        func(i *image) []string { return one(i.Arch) },
		"owner-id":            func(i *image) []string { return one(i.OwnerID) },
		"owner-alias":         func(i *image) []string { return one(i.OwnerAlias) },
		"description":         func(i *image) []string { return one(i.Description) },
		"state":               func(*image) []string { return one("available") },
		"image-type":          func(*image) []string { return one("machine") },
		"is-public":           func(*image) []string { return one("true") },
		"root-device-type":    func(*image) []string { return one("ebs") },
		"virtualization-type": func(*image) []string { return one("hvm") },
		"platform-details":    func(*image) []string { return one("Linux/UNIX") },
	}
	filters, err := parseFilters(p, known, true)
	if err != nil {
		return nil, err
	}
	ids, owners := p.list("ImageId"), p.list("Owner")
	for _, id := range ids {
		if !validID(id, "ami") {
			return nil, sender(codeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
		if w.images[id] == nil {
			return nil, sender(codeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", id)
		}
	}
	var hits []*image
	for _, img := range w.sortedImages() {
		if len(ids) > 0 && !contains(ids, img.ID) {
			continue
		}
		if len(owners) > 0 && !contains(owners, img.OwnerID) && !contains(owners, img.OwnerAlias) {
			continue
		}
		if matches(img, filters, known, func(i *image) []tag { return i.Tags }) {
			hits = append(hits, img)
		}
	}
	pg, err := paginate(p, "DescribeImages", len(hits), 1, 1000, 0)
	if err != nil {
		return nil, err
	}
	out := describeImagesResponse{Images: []xmlImage{}, NextToken: pg.Next}
	for _, img := range hits[pg.Start:pg.End] {
		out.Images = append(out.Images, xmlImage{ImageID: img.ID, ImageLocation: img.OwnerAlias + "/" + img.Name, ImageState: "available",
			ImageOwnerID: img.OwnerID, CreationDate: isoTime(img.Created), IsPublic: true, Architecture: img.Arch, ImageType: "machine",
			ImageOwnerAlias: img.OwnerAlias, Name: img.Name, Description: img.Description, RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
			BlockDeviceMapping: []xmlBlockDevice{{DeviceName: "/dev/xvda", EBS: xmlEBS{SnapshotID: "snap-" + img.ID[4:], VolumeSize: 20,
				DeleteOnTermination: true, VolumeType: "gp3"}}},
			VirtualizationType: "hvm", Hypervisor: "xen", EnaSupport: true, PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
			BootMode: "uefi-preferred", Tags: xmlTags(img.Tags)})
	}
	return out, nil
}

// sortedImages lists images newest release first, then by name, so listings are stable.
func (w *World) sortedImages() []*image {
	out := make([]*image, 0, len(w.images))
	for _, img := range w.images {
		out = append(out, img)
	}
	sortImages(out)
	return out
}

// isoTime is EC2's timestamp format.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func sortImages(imgs []*image) {
	sort.Slice(imgs, func(i, j int) bool {
		if imgs[i].Release != imgs[j].Release {
			return imgs[i].Release > imgs[j].Release
		}
		return imgs[i].Name < imgs[j].Name
	})
}

// validID reports whether id has EC2's shape: prefix, dash, 8 or 17 lowercase hex digits.
func validID(id, prefix string) bool {
	hex := id[min(len(id), len(prefix)+1):]
	if len(id) <= len(prefix)+1 || id[:len(prefix)+1] != prefix+"-" || (len(hex) != 8 && len(hex) != 17) {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
