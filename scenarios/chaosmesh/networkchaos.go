package chaosmesh

import (
	"strconv"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/firedrill/firedrill/drills"
)

// Bandwidth defaults, as the native backend's tbf.
const (
	DefaultBandwidthLimit  = 20000
	DefaultBandwidthBuffer = 10000
)

func buildNetworkChaos(spec drills.Fault, sel Selection, meta Meta) (*v1alpha1.NetworkChaos, error) {
	if err := otherSettings(spec, "network"); err != nil {
		return nil, err
	}
	net := spec.Network
	if net == nil {
		net = &drills.NetworkSettings{}
	}
	obj := &v1alpha1.NetworkChaos{TypeMeta: typeMeta(kindNetworkChaos), ObjectMeta: meta.objectMeta(spec, sel.Namespace)}
	obj.Spec.PodSelector = sel.podSelector()
	obj.Spec.Duration = duration(spec.Duration)
	switch net.Direction {
	case "", drills.DirectionTo:
		obj.Spec.Direction = v1alpha1.To
	case drills.DirectionFrom:
		obj.Spec.Direction = v1alpha1.From
	case drills.DirectionBoth:
		obj.Spec.Direction = v1alpha1.Both
	default:
		return nil, invalid(spec, "network.direction %q: want to, from or both", net.Direction)
	}
	only := func(field string, set bool) error {
		if set {
			return invalid(spec, "network.%s does not apply to %s", field, spec.Type)
		}
		return nil
	}
	var err error
	switch spec.Type {
	case drills.FaultNetworkPartition:
		obj.Spec.Action = v1alpha1.PartitionAction
		obj.Spec.PartitionBehavior = v1alpha1.DropPartitionBehavior
		err = firstErr(only("lossPercent", net.LossPercent != 0), only("latency", net.Latency != nil),
			only("jitter", net.Jitter != nil), only("rate", net.Rate != ""))
	case drills.FaultNetworkLoss:
		obj.Spec.Action = v1alpha1.LossAction
		if net.LossPercent <= 0 || net.LossPercent > 100 {
			return nil, invalid(spec, "network.lossPercent %g: want more than 0 and at most 100", net.LossPercent)
		}
		obj.Spec.Loss = &v1alpha1.LossSpec{Loss: strconv.FormatFloat(net.LossPercent, 'f', -1, 64), Correlation: v1alpha1.DefaultCorrelation}
		err = firstErr(only("latency", net.Latency != nil), only("jitter", net.Jitter != nil), only("rate", net.Rate != ""))
	case drills.FaultNetworkDelay:
		obj.Spec.Action = v1alpha1.DelayAction
		if net.Latency == nil || net.Latency.Duration <= 0 {
			return nil, invalid(spec, "network-delay needs network.latency > 0")
		}
		d := &v1alpha1.DelaySpec{Latency: net.Latency.Duration.String(), Jitter: v1alpha1.DefaultJitter, Correlation: v1alpha1.DefaultCorrelation}
		if net.Jitter != nil {
			if net.Jitter.Duration < 0 {
				return nil, invalid(spec, "network.jitter %s is negative", net.Jitter.Duration)
			}
			d.Jitter = net.Jitter.Duration.String()
		}
		obj.Spec.Delay = d
		err = firstErr(only("lossPercent", net.LossPercent != 0), only("rate", net.Rate != ""))
	case drills.FaultBandwidth:
		obj.Spec.Action = v1alpha1.BandwidthAction
		if net.Rate == "" {
			return nil, invalid(spec, "bandwidth needs network.rate, e.g. 1mbps")
		}
		b := &v1alpha1.BandwidthSpec{Rate: net.Rate, Limit: net.Limit, Buffer: net.Buffer}
		if b.Limit == 0 {
			b.Limit = DefaultBandwidthLimit
		}
		if b.Buffer == 0 {
			b.Buffer = DefaultBandwidthBuffer
		}
		obj.Spec.Bandwidth = b
		err = firstErr(only("lossPercent", net.LossPercent != 0), only("latency", net.Latency != nil), only("jitter", net.Jitter != nil))
	}
	if err != nil {
		return nil, err
	}
	if err := webhookValidate(spec, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
