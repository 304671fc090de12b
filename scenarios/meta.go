package scenarios

import (
	"time"
)

// Annotations every change carries where the object allows it.
const (
	// AnnotationOwner names the drill (run) that made the change.
	AnnotationOwner = "firedrill.dev/drill"
	// AnnotationExpires is when the change is due to be reverted
	// (RFC 3339); the Sweeper reverts changes whose time has passed.
	AnnotationExpires = "firedrill.dev/expires"
	// AnnotationBadImage records what bad-image changed on a Deployment.
	AnnotationBadImage = "firedrill.dev/bad-image"
	// AnnotationPushedAt on a pod template makes each bad-image push a new
	// revision (ReplicaSet), as a new release would be.
	AnnotationPushedAt = "firedrill.dev/pushed-at"
	// AnnotationBadConfig records what bad-config changed on a ConfigMap
	// or a Deployment.
	AnnotationBadConfig = "firedrill.dev/bad-config"
	// AnnotationRestartedAt is the pod-template annotation bumped to roll
	// a Deployment's pods.
	AnnotationRestartedAt = "firedrill.dev/restartedAt"
)

// ownerMeta is the owner and expiry written onto changed objects.
type ownerMeta struct {
	owner   string
	expires time.Time
}

func (m ownerMeta) annotations() map[string]any {
	return map[string]any{AnnotationOwner: m.owner, AnnotationExpires: m.expires.UTC().Format(time.RFC3339)}
}

// clearOwner is the merge-patch fragment that removes the owner annotations
// and the given record.
func clearOwner(record string) map[string]any {
	return map[string]any{AnnotationOwner: nil, AnnotationExpires: nil, record: nil}
}
