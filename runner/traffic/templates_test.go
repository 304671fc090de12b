package traffic

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestTemplatesRenderSeqAndRand(t *testing.T) {
	rng := &rngRef{r: rand.New(rand.NewPCG(3, 3))}
	tpls, err := parseTemplates([]drills.RequestTemplate{{
		Method:  "post",
		Path:    "/orders/{{.Seq}}?shard={{Rand 4}}",
		Body:    `{"id":{{.Seq}},"amount":{{.Rand 100}}}`,
		Headers: map[string]string{"Content-Type": "application/json", "host": "payment.local"},
	}}, rng)
	require.NoError(t, err)
	require.Len(t, tpls, 1)
	tp := tpls[0]
	require.Equal(t, "POST", tp.method)
	require.Equal(t, "payment.local", tp.host)
	require.Equal(t, "application/json", tp.headers.Get("Content-Type"))

	pathRe := regexp.MustCompile(`^/orders/(\d+)\?shard=([0-3])$`)
	bodyRe := regexp.MustCompile(`^\{"id":(\d+),"amount":(\d+)\}$`)
	var b strings.Builder
	seen := map[string]bool{}
	for seq := range int64(200) {
		data := templateData{Seq: seq, rng: rng.r}
		path, err := tp.path.render(&b, data)
		require.NoError(t, err)
		m := pathRe.FindStringSubmatch(path)
		require.NotNil(t, m, path)
		require.Equal(t, strconv.FormatInt(seq, 10), m[1])
		seen[m[2]] = true
		body, err := tp.body.render(&b, data)
		require.NoError(t, err)
		mb := bodyRe.FindStringSubmatch(body)
		require.NotNil(t, mb, body)
		require.Equal(t, m[1], mb[1])
		n, _ := strconv.Atoi(mb[2])
		require.Less(t, n, 100)
	}
	require.Len(t, seen, 4, "Rand 4 draws every value in 200 tries")
}

func TestTemplatesPlainTextIsNotParsed(t *testing.T) {
	tpls, err := parseTemplates([]drills.RequestTemplate{{Path: "/healthz"}}, &rngRef{r: rand.New(rand.NewPCG(1, 1))})
	require.NoError(t, err)
	require.Nil(t, tpls[0].path.tmpl)
	require.Equal(t, "GET", tpls[0].method)
}

func TestTemplatesRejectBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		req  drills.RequestTemplate
		want string
	}{
		"no slash":      {drills.RequestTemplate{Path: "orders"}, `must start with "/"`},
		"parse error":   {drills.RequestTemplate{Path: "/{{.Seq"}, "requests[0].path"},
		"unknown field": {drills.RequestTemplate{Path: "/{{.Nope}}"}, "requests[0].path"},
		"bad argument":  {drills.RequestTemplate{Path: "/", Body: `{{Rand "x"}}`}, "requests[0].body"},
		"bad method":    {drills.RequestTemplate{Method: "TRACE", Path: "/"}, "unsupported method"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseTemplates([]drills.RequestTemplate{tc.req}, &rngRef{r: rand.New(rand.NewPCG(1, 1))})
			require.ErrorContains(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "traffic: "), err.Error())
		})
	}
	_, err := parseTemplates(nil, &rngRef{})
	require.Error(t, err)
}
