package traffic

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"text/template"

	"github.com/firedrill/firedrill/drills"
)

// rngRef lets parsed templates reach the generator's RNG at execution
// time; it is swapped for a throwaway RNG when templates are checked.
type rngRef struct{ r *rand.Rand }

// templateData is what path and body templates see: {{.Seq}} and
// {{.Rand N}}. The Rand function ({{Rand N}}) draws from the same RNG.
type templateData struct {
	// Seq is the request number, from 0.
	Seq int64
	rng *rand.Rand
}

// Rand returns a random number in [0, n), or 0 if n <= 0.
func (d templateData) Rand(n int) int { return randN(d.rng, n) }

func randN(r *rand.Rand, n int) int {
	if n <= 0 {
		return 0
	}
	return r.IntN(n)
}

// text is a string that may be a template; plain strings skip rendering.
type text struct {
	plain string
	tmpl  *template.Template
}

// render returns the text for data; b is scratch space.
func (t *text) render(b *strings.Builder, data templateData) (string, error) {
	if t.tmpl == nil {
		return t.plain, nil
	}
	b.Reset()
	if err := t.tmpl.Execute(b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// requestTemplate is a parsed drills.RequestTemplate.
type requestTemplate struct {
	index   int
	method  string
	path    text
	body    text
	headers http.Header
	host    string
}

// rendered is one request ready to send.
type rendered struct {
	tpl  *requestTemplate
	path string
	body string
}

// parseText parses s once; the Rand function draws from rng.r at execution
// time.
func parseText(name, s string, rng *rngRef) (text, error) {
	if !strings.Contains(s, "{{") {
		return text{plain: s}, nil
	}
	t, err := template.New(name).Option("missingkey=error").
		Funcs(template.FuncMap{"Rand": func(n int) int { return randN(rng.r, n) }}).
		Parse(s)
	if err != nil {
		return text{}, fmt.Errorf("traffic: %s: %w", name, err)
	}
	return text{tmpl: t}, nil
}

// parseTemplates parses and checks every request template. rng points at
// the generator's RNG, which the Rand function uses.
func parseTemplates(reqs []drills.RequestTemplate, rng *rngRef) ([]*requestTemplate, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("traffic: at least one request template is required")
	}
	out := make([]*requestTemplate, 0, len(reqs))
	for i, r := range reqs {
		name := fmt.Sprintf("requests[%d]", i)
		method := strings.ToUpper(r.Method)
		if method == "" {
			method = http.MethodGet
		}
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead:
		default:
			return nil, fmt.Errorf("traffic: %s.method: unsupported method %q", name, r.Method)
		}
		if !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("traffic: %s.path: must start with \"/\", got %q", name, r.Path)
		}
		path, err := parseText(name+".path", r.Path, rng)
		if err != nil {
			return nil, err
		}
		body, err := parseText(name+".body", r.Body, rng)
		if err != nil {
			return nil, err
		}
		t := &requestTemplate{index: i, method: method, path: path, body: body, headers: http.Header{}}
		for k, v := range r.Headers {
			if http.CanonicalHeaderKey(k) == "Host" {
				t.host = v
				continue
			}
			t.headers.Set(k, v)
		}
		// Render once with a throwaway RNG to catch execution errors (a
		// wrong argument type) before the run.
		probe := rand.New(rand.NewPCG(0, 0))
		saved := rng.r
		rng.r = probe
		var b strings.Builder
		_, errPath := t.path.render(&b, templateData{rng: probe})
		_, errBody := t.body.render(&b, templateData{rng: probe})
		rng.r = saved
		if errPath != nil {
			return nil, fmt.Errorf("traffic: %s.path: %w", name, errPath)
		}
		if errBody != nil {
			return nil, fmt.Errorf("traffic: %s.body: %w", name, errBody)
		}
		out = append(out, t)
	}
	return out, nil
}
