package aws

// NotifyWaitingForDelete makes p call fn whenever an Ensure starts waiting for garbage collection
// to finish deleting the named template, so tests know the wait has begun without sleeping.
func NotifyWaitingForDelete(p *DefaultLaunchTemplateProvider, fn func(name string)) {
	p.waitingForDelete = fn
}
