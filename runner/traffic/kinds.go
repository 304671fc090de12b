package traffic

// Kind classifies a request that did not get a plain successful response.
type Kind string

// Request outcome kinds. Every kind except KindClient counts as an error;
// KindClient (4xx) counts as an error only with WithClientErrorsAsErrors.
const (
	// KindServer is a 5xx response.
	KindServer Kind = "5xx"
	// KindClient is a 4xx response.
	KindClient Kind = "4xx"
	// KindTimeout is a request that did not finish within its timeout,
	// counted from its intended send time.
	KindTimeout Kind = "timeout"
	// KindTransport is a connection or protocol failure (refused, reset).
	KindTransport Kind = "transport"
	// KindOverload is a request that was not sent because the pool of
	// in-flight requests was exhausted.
	KindOverload Kind = "overload"
	// KindNoEndpoints is a request that was not sent because no endpoint
	// was ready.
	KindNoEndpoints Kind = "no-endpoints"
	// KindRequest is a request that could not be built (a template failed
	// to render).
	KindRequest Kind = "request"
)

// outcome indexes the per-bucket counters; outcomeOK is a success.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeServer
	outcomeClient
	outcomeTimeout
	outcomeTransport
	outcomeOverload
	outcomeNoEndpoints
	outcomeRequest
	numOutcomes
)

// kinds maps outcomes to their Kind; outcomeOK maps to "".
var kinds = [numOutcomes]Kind{
	outcomeServer:      KindServer,
	outcomeClient:      KindClient,
	outcomeTimeout:     KindTimeout,
	outcomeTransport:   KindTransport,
	outcomeOverload:    KindOverload,
	outcomeNoEndpoints: KindNoEndpoints,
	outcomeRequest:     KindRequest,
}

// Kinds lists every outcome kind, in a stable order for printing.
func Kinds() []Kind {
	return append(make([]Kind, 0, numOutcomes-1), kinds[1:]...)
}

// isError tells whether o counts as an error.
func (o outcome) isError(clientErrors bool) bool {
	switch o {
	case outcomeOK:
		return false
	case outcomeClient:
		return clientErrors
	default:
		return true
	}
}

// sent tells whether a request with outcome o went on the wire, and so has
// a latency.
func (o outcome) sent() bool {
	switch o {
	case outcomeOverload, outcomeNoEndpoints, outcomeRequest:
		return false
	default:
		return true
	}
}
