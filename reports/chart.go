package reports

import (
	"fmt"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW     = 560
	chartH     = 220
	chartLeft  = 56
	chartRight = 36
	chartTop   = 26
	chartBot   = 30
)

type point struct{ X, Y float64 }

// series is one line on a chart; Class picks its CSS style.
type series struct {
	Name, Class string
	Points      []point
}

// marker is a vertical line at X; Class picks its CSS style.
type marker struct {
	X            float64
	Label, Class string
	// Row staggers labels of nearby markers vertically.
	Row int
}

// chartSpec describes a line chart before layout.
type chartSpec struct {
	Title      string
	Series     []series
	Markers    []marker
	XMin, XMax float64
	XLabel     func(float64) string
	YLabel     func(float64) string
	// XTicks, when set, places the X ticks (for time axes); by default they
	// fall on round multiples.
	XTicks func(xmin, xmax float64) []svgTick
	// YMax, when above 0, fixes the top of the Y axis (100 for percentages
	// of a whole).
	YMax float64
}

// svgChart is a laid-out chart ready for the "chart" template.
type svgChart struct {
	Title          string
	W, H           int
	X0, Y0, X1, Y1 float64
	Paths          []svgPath
	Dots           []svgDot
	Markers        []svgMarker
	YTicks         []svgTick
	XTicks         []svgTick
	Legend         []svgLegend
	Empty          bool
}

type svgPath struct{ D, Class, Name string }
type svgDot struct {
	X, Y  float64
	Class string
	Title string
}
type svgMarker struct {
	X, LabelY    float64
	Label, Class string
}
type svgTick struct {
	Pos   float64
	Label string
}
type svgLegend struct {
	X           float64
	Name, Class string
}

// layout scales spec into an svgChart: Y from 0 to a rounded-up maximum,
// X from XMin to XMax.
func layout(spec chartSpec) svgChart {
	c := svgChart{Title: spec.Title, W: chartW, H: chartH,
		X0: chartLeft, Y0: chartTop, X1: chartW - chartRight, Y1: chartH - chartBot}
	ymax := 0.0
	npts := 0
	for _, s := range spec.Series {
		for _, p := range s.Points {
			ymax = math.Max(ymax, finite(p.Y))
			npts++
		}
	}
	c.Empty = npts == 0
	ymax = niceCeil(ymax)
	if spec.YMax > 0 {
		ymax = spec.YMax
	}
	xmin, xmax := spec.XMin, spec.XMax
	if xmax <= xmin {
		xmax = xmin + 1
	}
	sx := func(x float64) float64 { return c.X0 + (x-xmin)/(xmax-xmin)*(c.X1-c.X0) }
	sy := func(y float64) float64 { return c.Y1 - finite(y)/ymax*(c.Y1-c.Y0) }
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		c.YTicks = append(c.YTicks, svgTick{Pos: round1(sy(v)), Label: spec.YLabel(v)})
	}
	if spec.XTicks != nil {
		for _, v := range spec.XTicks(xmin, xmax) {
			c.XTicks = append(c.XTicks, svgTick{Pos: round1(sx(v.Pos)), Label: v.Label})
		}
	} else {
		step := niceCeil((xmax - xmin) / 6 / 1.05)
		for v := math.Ceil(xmin/step) * step; v <= xmax+step*1e-9; v += step {
			c.XTicks = append(c.XTicks, svgTick{Pos: round1(sx(v)), Label: spec.XLabel(v)})
		}
	}
	lx := c.X0 + 7*float64(len(spec.Title)) + 24
	for _, s := range spec.Series {
		if len(s.Points) == 0 {
			continue
		}
		c.Legend = append(c.Legend, svgLegend{X: lx, Name: s.Name, Class: s.Class})
		lx += 14 + 7*float64(len(s.Name)) + 16
		var b strings.Builder
		for i, p := range s.Points {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&b, "%s%.1f %.1f", cmd, sx(p.X), sy(p.Y))
			if i < len(s.Points)-1 {
				b.WriteByte(' ')
			}
		}
		c.Paths = append(c.Paths, svgPath{D: b.String(), Class: s.Class, Name: s.Name})
		if len(s.Points) <= 40 {
			for _, p := range s.Points {
				c.Dots = append(c.Dots, svgDot{X: round1(sx(p.X)), Y: round1(sy(p.Y)), Class: s.Class,
					Title: fmt.Sprintf("%s: %s at %s", s.Name, spec.YLabel(p.Y), spec.XLabel(p.X))})
			}
		}
	}
	for _, m := range spec.Markers {
		if m.X < xmin || m.X > xmax {
			continue
		}
		c.Markers = append(c.Markers, svgMarker{X: round1(sx(m.X)), LabelY: c.Y0 + 8 + float64(m.Row%5)*11, Label: m.Label, Class: m.Class})
	}
	return c
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	v *= 1.05
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// num renders v compactly for axis labels.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	default:
		s := strings.TrimRight(fmt.Sprintf("%.3f", v), "0")
		return strings.TrimSuffix(s, ".")
	}
}
