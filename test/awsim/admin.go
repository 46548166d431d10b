package awsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// adminPrefix roots the admin API. Every endpoint takes and returns JSON:
//
//	GET    /_awsim/state          world summary (instances, subnets, queues, knobs)
//	PUT    /_awsim/capacity       {"instanceType","zone","capacityType","count"}; count -1 = unlimited
//	PUT    /_awsim/faults         {"action","throttleRate","latency":"250ms","errorCode","errorMessage","errorStatus","count"}
//	DELETE /_awsim/faults?action=A
//	PUT    /_awsim/prices         {"instanceType","zone","spotPrice"} or {"instanceType","onDemandPrice"}
//	PUT    /_awsim/settings       {"bootDelay":"30s","spotNotice":"2m","eventsQueue":"name"}
//	POST   /_awsim/interrupt      {"kind":"spot-interruption","instanceIds":[...]} or {"kind":..., "fraction":0.5}
//	POST   /_awsim/amis/roll      publish a new AMI release; returns {"release":N}
const adminPrefix = "/_awsim/"

func (s *Server) serveAdmin(rw http.ResponseWriter, r *http.Request) {
	w := s.world
	route := r.Method + " " + strings.TrimPrefix(r.URL.Path, adminPrefix)
	var out any = map[string]string{"status": "ok"}
	var err error
	switch route {
	case "GET state":
		out = w.State()
	case "PUT capacity", "POST capacity":
		var in struct {
			InstanceType, Zone, CapacityType string
			Count                            *int
		}
		if err = decodeStrict(r, &in); err == nil {
			err = requireFields(map[string]string{"instanceType": in.InstanceType, "zone": in.Zone, "capacityType": in.CapacityType})
		}
		if err == nil && in.CapacityType != "spot" && in.CapacityType != "on-demand" {
			err = fmt.Errorf("capacityType must be spot or on-demand, not %q", in.CapacityType)
		}
		if err == nil {
			n := -1
			if in.Count != nil {
				n = *in.Count
			}
			w.SetCapacity(in.InstanceType, in.Zone, in.CapacityType, n)
		}
	case "PUT faults", "POST faults":
		var in struct {
			Action       string
			ThrottleRate float64
			Latency      string
			ErrorCode    string
			ErrorMessage string
			ErrorStatus  int
			Count        int
		}
		if err = decodeStrict(r, &in); err == nil {
			err = requireFields(map[string]string{"action": in.Action})
		}
		var latency time.Duration
		if err == nil && in.Latency != "" {
			latency, err = time.ParseDuration(in.Latency)
		}
		if err == nil && (in.ThrottleRate < 0 || in.ThrottleRate > 1) {
			err = fmt.Errorf("throttleRate must be between 0 and 1")
		}
		if err == nil {
			w.SetFault(in.Action, Fault{ThrottleRate: in.ThrottleRate, Latency: latency, ErrorCode: in.ErrorCode,
				ErrorMessage: in.ErrorMessage, ErrorStatus: in.ErrorStatus, Count: in.Count})
		}
	case "DELETE faults":
		w.SetFault(r.URL.Query().Get("action"), Fault{})
	case "PUT prices", "POST prices":
		var in struct {
			InstanceType             string
			Zone                     string
			SpotPrice, OnDemandPrice *float64
		}
		if err = decodeStrict(r, &in); err == nil {
			err = requireFields(map[string]string{"instanceType": in.InstanceType})
		}
		if err == nil && in.SpotPrice != nil {
			if in.Zone == "" {
				err = fmt.Errorf("zone is required with spotPrice")
			} else {
				w.SetSpotPrice(in.InstanceType, in.Zone, *in.SpotPrice)
			}
		}
		if err == nil && in.OnDemandPrice != nil {
			w.SetOnDemandPrice(in.InstanceType, *in.OnDemandPrice)
		}
	case "PUT settings", "POST settings":
		var in struct {
			BootDelay, SpotNotice *string
			EventsQueue           *string
		}
		if err = decodeStrict(r, &in); err == nil {
			err = applySettings(w, in.BootDelay, in.SpotNotice, in.EventsQueue)
		}
	case "POST interrupt":
		var in struct {
			Kind        string
			InstanceIDs []string `json:"instanceIds"`
			Fraction    float64
		}
		if err = decodeStrict(r, &in); err == nil {
			switch {
			case in.Kind == "":
				err = fmt.Errorf("kind is required")
			case len(in.InstanceIDs) > 0:
				err = w.Interrupt(in.Kind, in.InstanceIDs...)
				out = map[string][]string{"instanceIds": in.InstanceIDs}
			case in.Fraction > 0 && in.Fraction <= 1 && in.Kind == InterruptSpot:
				out = map[string][]string{"instanceIds": w.InterruptSpotFraction(in.Fraction)}
			default:
				err = fmt.Errorf("give instanceIds, or a fraction in (0, 1] for kind %s", InterruptSpot)
			}
		}
	case "POST amis/roll":
		out = map[string]int{"release": w.RollAMIs()}
	default:
		writeAdmin(rw, http.StatusNotFound, map[string]string{"error": "no admin endpoint " + route})
		return
	}
	if err != nil {
		writeAdmin(rw, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeAdmin(rw, http.StatusOK, out)
}

func applySettings(w *World, bootDelay, spotNotice, eventsQueue *string) error {
	var boot, notice time.Duration
	var err error
	if bootDelay != nil {
		if boot, err = time.ParseDuration(*bootDelay); err != nil || boot < 0 {
			return fmt.Errorf("bootDelay: want a non-negative duration, got %q", *bootDelay)
		}
	}
	if spotNotice != nil {
		if notice, err = time.ParseDuration(*spotNotice); err != nil || notice < 0 {
			return fmt.Errorf("spotNotice: want a non-negative duration, got %q", *spotNotice)
		}
	}
	if bootDelay != nil {
		w.SetBootDelay(boot)
	}
	if spotNotice != nil {
		w.SetSpotNotice(notice)
	}
	if eventsQueue != nil {
		w.SetEventsQueue(*eventsQueue)
	}
	return nil
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding request, %w", err)
	}
	return nil
}

func requireFields(fields map[string]string) error {
	var missing []string
	for k, v := range fields {
		if v == "" {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

func writeAdmin(rw http.ResponseWriter, status int, v any) {
	data, _ := json.MarshalIndent(v, "", "  ")
	rw.Header().Set("Content-Type", "application/json")
	writeBody(rw, status, append(data, '\n'))
}

// InstanceState is an instance as the admin API and tests see it.
type InstanceState struct {
	ID           string            `json:"id"`
	InstanceType string            `json:"instanceType"`
	Zone         string            `json:"zone"`
	CapacityType string            `json:"capacityType"`
	State        string            `json:"state"`
	ImageID      string            `json:"imageId"`
	SubnetID     string            `json:"subnetId"`
	PrivateDNS   string            `json:"privateDnsName"`
	PrivateIP    string            `json:"privateIpAddress"`
	Region       string            `json:"region"`
	Arch         string            `json:"arch"` // Kubernetes name: amd64, arm64
	VCPU         int64             `json:"vcpu"`
	MemoryMiB    int64             `json:"memoryMiB"`
	ENIs         int64             `json:"enis"`
	IPv4PerENI   int64             `json:"ipv4PerEni"`
	LaunchTime   time.Time         `json:"launchTime"`
	Tags         map[string]string `json:"tags,omitempty"`
	// UserData is base64, as it was sent to EC2.
	UserData string `json:"userData,omitempty"`
	// InstanceProfile is the IAM instance profile's name, "" when it launched with none.
	InstanceProfile string               `json:"instanceProfile,omitempty"`
	MetadataOptions MetadataOptionsState `json:"metadataOptions"`
	Monitoring      bool                 `json:"monitoring"`
}

// State is a summary of the world for the admin API.
type State struct {
	Region      string            `json:"region"`
	Zones       []string          `json:"zones"`
	AMIRelease  int               `json:"amiRelease"`
	EventsQueue string            `json:"eventsQueue,omitempty"`
	Subnets     map[string]int    `json:"subnetAvailableIps"`
	Capacity    map[string]int    `json:"capacity,omitempty"`
	Faults      map[string]Fault  `json:"faults,omitempty"`
	Queues      map[string]int    `json:"queueDepths,omitempty"`
	Instances   []InstanceState   `json:"instances"`
	Templates   map[string]string `json:"launchTemplates,omitempty"`
	// TemplateData holds what each launch template launches, by ID.
	TemplateData map[string]LaunchTemplateState `json:"launchTemplateData,omitempty"`
}

// State summarises the world (it also applies due transitions first).
func (w *World) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked()
	st := State{Region: w.opts.Region, Zones: w.Zones(), AMIRelease: w.amiRelease, EventsQueue: w.eventsQueue,
		Subnets: map[string]int{}, Capacity: map[string]int{}, Faults: map[string]Fault{}, Queues: map[string]int{},
		Instances: []InstanceState{}, Templates: map[string]string{}, TemplateData: map[string]LaunchTemplateState{}}
	for _, s := range w.subnets {
		st.Subnets[s.ID] = s.size - s.inUse
	}
	for p, n := range w.capacity {
		st.Capacity[p.InstanceType+"/"+p.Zone+"/"+p.CapacityType] = n
	}
	for a, f := range w.faults {
		st.Faults[a] = f
	}
	for name, q := range w.queues {
		st.Queues[name] = len(q.messages)
	}
	for id, lt := range w.templates {
		st.Templates[id] = lt.Name
		st.TemplateData[id] = LaunchTemplateState{Name: lt.Name, ImageID: lt.ImageID, UserData: lt.UserData,
			SecurityGroups: append([]string(nil), lt.SecurityGroups...), BlockDeviceMappings: append([]BlockDeviceMappingState(nil), lt.BlockDevices...),
			InstanceProfile: lt.InstanceProfile, MetadataOptions: lt.Metadata, Monitoring: lt.Monitoring}
	}
	for _, inst := range w.liveOrderLocked() {
		st.Instances = append(st.Instances, w.instanceState(inst))
	}
	return st
}

func (w *World) instanceState(inst *instance) InstanceState {
	tags := map[string]string{}
	for _, t := range inst.Tags {
		tags[t.Key] = t.Value
	}
	st := InstanceState{ID: inst.ID, InstanceType: inst.Type.Name, Zone: inst.Zone, CapacityType: inst.CapacityType, State: inst.State,
		ImageID: inst.ImageID, SubnetID: inst.SubnetID, PrivateDNS: inst.PrivateDNS, PrivateIP: inst.PrivateIP, Region: w.opts.Region,
		Arch: inst.Type.Arch, VCPU: int64(inst.Type.VCPU), MemoryMiB: inst.Type.MemoryMiB, LaunchTime: inst.LaunchTime, Tags: tags,
		UserData: inst.UserData, InstanceProfile: inst.InstanceProfile, MetadataOptions: inst.Metadata, Monitoring: inst.Monitoring}
	if v := inst.Type.VPC; v != nil {
		st.ENIs, st.IPv4PerENI = int64(v.Interfaces), int64(v.IPv4PerInterface)
	}
	return st
}

// Instances lists every instance the world still shows, in launch order.
func (w *World) Instances() []InstanceState {
	return w.State().Instances
}
