package reports

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/internal/testenv"
)

func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	out := string(render(t, HTMLWriter{}))
	for _, bad := range []string{"<script", "http://", "https://", "src=", "@import", "url("} {
		require.NotContains(t, strings.ToLower(out), bad)
	}
	require.Contains(t, out, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, out, "999950 | 50 missing &amp; &lt;unreconciled&gt;")
	// three charts for each run with a timeline (only the first has one)
	require.Equal(t, 3, strings.Count(out, `<svg class="chart"`))
	require.Contains(t, out, "No timeline samples were recorded.")
	require.Equal(t, 6, strings.Count(out, `<path class="line s-traffic"`)+strings.Count(out, `<path class="line s-prometheus"`))
	for _, kind := range []string{"fault-injected", "detection", "decision", "action", "recovery"} {
		require.Equal(t, 4, strings.Count(out, `<line class="marker m-`+kind+`"`), kind, "three charts and the coverage strip")
	}
}

func TestHTMLGuardCoverage(t *testing.T) {
	out := string(render(t, HTMLWriter{}))
	// Only the first sample run has coverage: one strip chart, one row per
	// unit, one segment per state run.
	require.Equal(t, 1, strings.Count(out, `<svg class="chart strips"`))
	require.Equal(t, 1, strings.Count(out, `<table class="coverage">`))
	require.Equal(t, 3, strings.Count(out, `<rect class="seg u-clear"`))
	require.Equal(t, 2, strings.Count(out, `<rect class="seg u-held"`))
	require.Equal(t, 1, strings.Count(out, `<rect class="seg u-firing"`))
	for _, want := range []string{
		`<title>rule error-rate firing from &#43;36s to &#43;40s</title>`,
		`<tr><td>rule error-rate</td><td>inject&#43;observe</td><td class="num">50</td><td class="num">6%</td><td class="num">4</td><td>stale data: newest sample is 11.2s old (staleAfter 10s)</td></tr>`,
		`<tr><td>rule error-rate</td><td>baseline</td><td class="num">26</td><td class="num">11.5%</td><td class="num">0</td><td>no data</td></tr>`,
		`<tr><td>kubernetes</td><td>baseline</td><td class="num">26</td><td class="num">0%</td><td class="num">0</td><td></td></tr>`,
	} {
		require.True(t, strings.Contains(out, want), "missing %s", want)
	}

	// The firing segment sits between 36 s and 40 s of the 95 s run.
	m := regexp.MustCompile(`<rect class="seg u-firing" x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"`).FindStringSubmatch(out)
	require.NotNil(t, m)
	x0, w := parseF(t, m[1]), parseF(t, m[2])
	span := float64(stripW - stripRight - stripLabel)
	require.InDelta(t, stripLabel+36.0/95*span, x0, 0.2)
	require.InDelta(t, 4.0/95*span, w, 0.2)
}

func parseF(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// chromium returns the path of a headless Chromium, or skips (fails under
// make test) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium (Debian package chromium; hack/host-deps.sh installs it)")
	return ""
}

func chromiumArgs(t *testing.T, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, extra...)
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	return stdout.Bytes()
}

// TestHTMLRendersInChromium opens the sample report in headless Chromium,
// checks the rendered DOM and that the screenshot shows the verdict banner
// and drawn charts.
func TestHTMLRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	require.NoError(t, HTMLWriter{}.Write(context.Background(), &buf, sampleResults()))
	require.NoError(t, os.WriteFile(page, buf.Bytes(), 0o644))
	url := "file://" + page

	dom := string(runChromium(t, bin, chromiumArgs(t, "--dump-dom", url)...))
	require.Contains(t, dom, `<span class="badge v-passed">passed</span>`)
	require.Contains(t, dom, `<h2>bad-config <span class="badge v-failed">failed</span></h2>`)
	require.Contains(t, dom, `<span class="badge v-inconclusive">inconclusive</span>`)
	require.Equal(t, 3, strings.Count(dom, `<svg class="chart"`))
	paths := regexp.MustCompile(`<path class="line s-(traffic|prometheus)" d="M[0-9.]+ [0-9.]+( L[0-9.]+ [0-9.]+)+"`).FindAllString(dom, -1)
	require.Len(t, paths, 6)
	require.Contains(t, dom, "6.2s")
	require.Contains(t, dom, "rb-0001")

	shot := filepath.Join(dir, "report.png")
	runChromium(t, bin, chromiumArgs(t, "--screenshot="+shot, "--window-size=1280,1400", url)...)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	if dst := os.Getenv("FIREDRILL_REPORT_SCREENSHOT"); dst != "" {
		data, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst, data, 0o644))
	}

	// The first verdict banner (the "glance" link) is green, the second red.
	green := 0
	forEach(img, image.Rect(28, 60, 228, 110), func(r, g, b uint32) {
		if g > r+0x2000 && g > b+0x2000 {
			green++
		}
	})
	require.Greater(t, green, 2000, "no green verdict banner at the top")
	red := 0
	forEach(img, image.Rect(290, 80, 480, 130), func(r, g, b uint32) {
		if r > g+0x4000 && r > b+0x4000 {
			red++
		}
	})
	require.Greater(t, red, 2000, "no red verdict banner for the failed drill")

	// Each chart's plot area has line pixels in the series colours: blue for
	// traffic, pink for Prometheus.
	blue, pink := 0, 0
	forEach(img, image.Rect(0, 300, 1280, 900), func(r, g, b uint32) {
		switch {
		case b > 0xb000 && r < 0x6000 && g < 0xa000:
			blue++
		case r > 0xb000 && b > 0x5000 && g < 0x6000:
			pink++
		}
	})
	require.Greater(t, blue, 300, "no traffic lines drawn")
	require.Greater(t, pink, 100, "no prometheus lines drawn")
}

func forEach(img image.Image, rect image.Rectangle, f func(r, g, b uint32)) {
	rect = rect.Intersect(img.Bounds())
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			f(r, g, b)
		}
	}
}
