package awsim

import (
	"time"
)

// Fault is what an action suffers before it runs.
type Fault struct {
	// ThrottleRate is the fraction of calls refused as throttled (0–1), drawn from the seeded RNG.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// Latency is added to every call, measured on the world's clock.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorCode, when set, fails every call with this code (and ErrorStatus, default 400).
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorStatus  int    `json:"errorStatus,omitempty"`
	// Count limits the fault to the next Count calls (0: until cleared).
	Count int `json:"count,omitempty"`
}

// SetFault injects a fault into an action (e.g. "CreateFleet", "SendMessage"); "*" matches every
// action without a fault of its own. A zero Fault clears it.
func (w *World) SetFault(action string, f Fault) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f == (Fault{}) {
		delete(w.faults, action)
		return
	}
	w.faults[action] = f
}

// Calls returns how many requests for action (e.g. "TerminateInstances") the world has received,
// failed ones included: the request log tests read when an effect must happen exactly once.
func (w *World) Calls(action string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[action]
}

// drawFault decides, for one call, the latency to add and the error to return.
func (w *World) drawFault(action string, proto protocol) (time.Duration, *apiError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[action]++
	key := action
	f, ok := w.faults[key]
	if !ok {
		key = "*"
		if f, ok = w.faults[key]; !ok {
			return 0, nil
		}
	}
	if f.Count > 0 {
		if f.Count == 1 {
			delete(w.faults, key)
		} else {
			f.Count--
			w.faults[key] = f
		}
	}
	var err *apiError
	switch {
	case f.ErrorCode != "":
		status := f.ErrorStatus
		if status == 0 {
			status = 400
		}
		msg := f.ErrorMessage
		if msg == "" {
			msg = "injected by awsim"
		}
		err = &apiError{Code: f.ErrorCode, Message: msg, Status: status}
	case f.ThrottleRate > 0 && w.rng.Float64() < f.ThrottleRate:
		err = throttled(proto)
	}
	return f.Latency, err
}

// SetCapacity limits a pool to n more launches; n < 0 makes it unlimited again.
func (w *World) SetCapacity(instanceType, zone, capacityType string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := pool{InstanceType: instanceType, Zone: zone, CapacityType: capacityType}
	if n < 0 {
		delete(w.capacity, p)
		return
	}
	w.capacity[p] = n
}

// SetSpotPrice overrides the modelled spot price of a type in a zone; price <= 0 restores it.
func (w *World) SetSpotPrice(instanceType, zone string, price float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := pool{InstanceType: instanceType, Zone: zone, CapacityType: "spot"}
	if price <= 0 {
		delete(w.spotPrices, p)
	} else {
		w.spotPrices[p] = price
	}
	w.priceAt = w.now()
}

// SetOnDemandPrice overrides a type's on-demand price; price <= 0 restores the catalog's.
func (w *World) SetOnDemandPrice(instanceType string, price float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if price <= 0 {
		delete(w.odPrices, instanceType)
	} else {
		w.odPrices[instanceType] = price
	}
	w.priceAt = w.now()
}

// SetBootDelay changes how long later launches stay pending.
func (w *World) SetBootDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.BootDelay = d
}

// SetSpotNotice changes the warning period before an interrupted spot instance is reclaimed.
func (w *World) SetSpotNotice(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spotNotice = d
}

// SetEventsQueue names the SQS queue that receives the EventBridge events (interruption
// warnings, rebalance recommendations, health events, state changes); "" stops them, like an
// account without the rule.
func (w *World) SetEventsQueue(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.eventsQueue = name
}
