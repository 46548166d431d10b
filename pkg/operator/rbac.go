package operator

// RBAC for what the operator itself does: leader election takes a Lease in its namespace and
// records Events about it. controller-gen turns these markers into the chart's roles; each
// controller declares its own next to its code. The namespace is rewritten by the chart.
//
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=kerf,resources=leases,verbs=get;create;update
// +kubebuilder:rbac:groups="",namespace=kerf,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,namespace=kerf,resources=events,verbs=create;patch
//
// Every replica reads the karpenter-global-settings ConfigMap at start and polls it with GETs.
// +kubebuilder:rbac:groups="",namespace=kerf,resources=configmaps,verbs=get
