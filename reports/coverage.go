package reports

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Strip geometry, in SVG user units: one row per signal unit, its name
// on the left, its state runs as coloured segments on the run's time axis.
const (
	stripW     = chartW * 2
	stripLabel = 170
	stripRight = chartRight
	stripTop   = 26
	stripRow   = 18
	stripBar   = 12
	stripBot   = 22
)

// svgStrips is the guard coverage strip chart, ready for the "strips"
// template.
type svgStrips struct {
	W, H    int
	X0, X1  float64
	Y1      float64
	Rows    []svgStripRow
	XTicks  []svgTick
	Markers []svgMarker
}

// svgStripRow is one signal unit's strip.
type svgStripRow struct {
	Name  string
	Y     float64
	TextY float64
	Segs  []svgSeg
}

// svgSeg is one state run of a unit.
type svgSeg struct {
	X, W         float64
	Class, Title string
}

// coverageRow is one line of the coverage table: a unit in one phase
// bucket.
type coverageRow struct {
	Unit, Phase, HeldPct, TopReason string
	Evaluations, Held, Firing       int
}

// coverageStrips draws one strip per signal unit on the same time axis as
// the charts (seconds from t0), with the marker events; nil without
// coverage.
func coverageStrips(r drills.Result, t0 time.Time) *svgStrips {
	if len(r.GuardCoverage) == 0 {
		return nil
	}
	xmin, xmax := 0.0, runDuration(r).Seconds()
	for _, smp := range r.Timeline {
		xmin = math.Min(xmin, smp.Time.Sub(t0).Seconds())
		xmax = math.Max(xmax, smp.Time.Sub(t0).Seconds())
	}
	for _, c := range r.GuardCoverage {
		for _, run := range c.Runs {
			xmin = math.Min(xmin, run.Start.Sub(t0).Seconds())
			xmax = math.Max(xmax, run.End.Sub(t0).Seconds())
		}
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	s := &svgStrips{W: stripW, X0: stripLabel, X1: stripW - stripRight}
	s.Y1 = float64(stripTop + stripRow*len(r.GuardCoverage))
	s.H = int(s.Y1) + stripBot
	sx := func(x float64) float64 { return s.X0 + (x-xmin)/(xmax-xmin)*(s.X1-s.X0) }
	for i, c := range r.GuardCoverage {
		y := float64(stripTop + stripRow*i)
		row := svgStripRow{Name: c.Unit, Y: y + (stripRow-stripBar)/2, TextY: y + stripRow/2 + 4}
		for _, run := range c.Runs {
			x0, x1 := sx(run.Start.Sub(t0).Seconds()), sx(run.End.Sub(t0).Seconds())
			row.Segs = append(row.Segs, svgSeg{
				X: round1(x0), W: round1(math.Max(x1-x0, 1.5)), Class: "u-" + string(run.State),
				Title: fmt.Sprintf("%s %s from %s to %s", c.Unit, run.State, offset(t0, run.Start), offset(t0, run.End)),
			})
		}
		if c.RunsTruncated {
			row.Name += " (truncated)"
		}
		s.Rows = append(s.Rows, row)
	}
	step := niceCeil((xmax - xmin) / 10 / 1.05)
	for v := math.Ceil(xmin/step) * step; v <= xmax+step*1e-9; v += step {
		s.XTicks = append(s.XTicks, svgTick{Pos: round1(sx(v)), Label: num(v) + "s"})
	}
	for _, e := range r.Events {
		for _, m := range markerKinds {
			if e.Kind == m.Kind {
				if x := e.Time.Sub(t0).Seconds(); x >= xmin && x <= xmax {
					s.Markers = append(s.Markers, svgMarker{X: round1(sx(x)), Label: m.Short, Class: "m-" + string(m.Kind)})
				}
			}
		}
	}
	return s
}

// coverageRows is the coverage table: per unit, its baseline and
// inject+observe counts.
func coverageRows(cov []drills.SignalCoverage) []coverageRow {
	var rows []coverageRow
	for _, c := range cov {
		for _, p := range c.Phases {
			rows = append(rows, coverageRow{
				Unit: c.Unit, Phase: p.Phase, Evaluations: p.Evaluations, Held: p.Held, Firing: p.Firing,
				HeldPct: heldPercent(p), TopReason: p.TopHoldReason(),
			})
		}
	}
	return rows
}

// heldPercent formats a bucket's held fraction ("—" without evaluations).
func heldPercent(p drills.PhaseCoverage) string {
	if p.Evaluations == 0 {
		return "—"
	}
	return strconv.FormatFloat(math.Round(p.HeldFraction()*1000)/10, 'f', -1, 64) + "%"
}
