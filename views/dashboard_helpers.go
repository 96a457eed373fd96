package views

import (
	"strconv"

	"github.com/a-h/templ"
)

func funnelWidth(w int) templ.SafeCSS {
	w = max(0, min(100, w))
	return templ.SafeCSS("width:" + strconv.Itoa(w) + "%")
}

// kpiTone colours a change: green when it is good news, red when not.
func kpiTone(k KPI) string {
	switch {
	case k.Trend == "flat" || k.Trend == "":
		return "Polaris-Text--subdued"
	case k.Good:
		return "cw-Kpi--good"
	}
	return "cw-Kpi--bad"
}

func kpiArrow(trend string) string {
	switch trend {
	case "up":
		return "▲"
	case "down":
		return "▼"
	}
	return ""
}
