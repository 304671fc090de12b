package chaosmesh

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// Labels every object firedrill builds carries.
const (
	// LabelManagedBy marks objects made by firedrill (value ManagedBy).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "firedrill"
	// LabelFaultType is the drill fault type an object was built for.
	LabelFaultType = "firedrill.dev/fault-type"
)

// GroupVersion is Chaos Mesh's API group and version.
var GroupVersion = schema.GroupVersion{Group: "chaos-mesh.org", Version: "v1alpha1"}

// ErrInvalid is matched (errors.Is) by every error about a fault's
// parameters; such errors come before anything is sent to the cluster.
var ErrInvalid = errors.New("invalid fault parameters")

// invalid returns an ErrInvalid error naming the fault.
func invalid(spec drills.Fault, format string, args ...any) error {
	name := spec.Name
	if name == "" {
		name = string(spec.Type)
	}
	return fmt.Errorf("chaosmesh: fault %q (%s): %w: %s", name, spec.Type, ErrInvalid, fmt.Sprintf(format, args...))
}

// Meta is the identity every built object carries.
type Meta struct {
	// Name of the object (default: derived from Owner, the fault's name
	// and Expires, so that two runs never collide).
	Name string
	// Owner is written as the scenarios.AnnotationOwner annotation
	// (default "firedrill").
	Owner string
	// Expires is written as the scenarios.AnnotationExpires annotation;
	// Sweep deletes the object once it has passed.
	Expires time.Time
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName is m.Name, or "fd-<fault name>-<hash>" (a DNS-1123 label).
func (m Meta) objectName(spec drills.Fault) string {
	if m.Name != "" {
		return m.Name
	}
	base := spec.Name
	if base == "" {
		base = string(spec.Type)
	}
	base = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(base), "-"), "-")
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s/%s/%d", m.Owner, spec.Name, m.Expires.UnixNano())
	suffix := fmt.Sprintf("%08x", h.Sum32())
	if max := 63 - len("fd--") - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	return "fd-" + base + "-" + suffix
}

// objectMeta is the metadata of an object built for spec in namespace.
func (m Meta) objectMeta(spec drills.Fault, namespace string) metav1.ObjectMeta {
	owner := m.Owner
	if owner == "" {
		owner = "firedrill"
	}
	ann := map[string]string{scenarios.AnnotationOwner: owner}
	if !m.Expires.IsZero() {
		ann[scenarios.AnnotationExpires] = m.Expires.UTC().Format(time.RFC3339)
	}
	return metav1.ObjectMeta{
		Name:        m.objectName(spec),
		Namespace:   namespace,
		Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelFaultType: string(spec.Type)},
		Annotations: ann,
	}
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: kind}
}

// duration is the Chaos Mesh duration string of d, or nil.
func duration(d *drills.Duration) *string {
	if d == nil || d.Duration <= 0 {
		return nil
	}
	s := d.Duration.String()
	return &s
}

// kinds are the Chaos Mesh kinds firedrill builds with typed objects.
const (
	kindPodChaos     = v1alpha1.KindPodChaos
	kindNetworkChaos = v1alpha1.KindNetworkChaos
)
