package customers

import (
	"testing"
	"time"
)

func TestTimezoneFor(t *testing.T) {
	cases := []struct{ country, province, want string }{
		{"CN", "", "Asia/Shanghai"},
		{"cn", "GD", "Asia/Shanghai"},
		{"China", "", "Asia/Shanghai"},
		{"GB", "", "Europe/London"},
		{"UK", "", "Europe/London"},
		{"United Kingdom", "", "Europe/London"},
		{"DE", "BE", "Europe/Berlin"},
		{"The Netherlands", "", "Europe/Amsterdam"},
		{"HK", "", "Asia/Hong_Kong"},
		{"TW", "", "Asia/Taipei"},
		{"JP", "13", "Asia/Tokyo"},
		{"KR", "", "Asia/Seoul"},
		{"SG", "", "Asia/Singapore"},
		{"NZ", "AUK", "Pacific/Auckland"},
		{"IN", "MH", "Asia/Kolkata"},
		{"ZA", "", "Africa/Johannesburg"},
		{"AE", "DU", "Asia/Dubai"},
		{"US", "CA", "America/Los_Angeles"},
		{"US", "ny", "America/New_York"},
		{"United States", "AZ", "America/Phoenix"},
		{"US", "HI", "Pacific/Honolulu"},
		{"CA", "BC", "America/Vancouver"},
		{"CA", "QC", "America/Toronto"},
		{"AU", "WA", "Australia/Perth"},
		{"AU", "NSW", "Australia/Sydney"},
		{"BR", "SP", "America/Sao_Paulo"},
		{"BR", "AM", "America/Manaus"},
		{"MX", "JAL", "America/Mexico_City"},
		{"MX", "BC", "America/Tijuana"},
		{"ES", "", "Europe/Madrid"},
		{"ES", "TF", "Atlantic/Canary"},
		// Unknown or ambiguous: the shop's zone applies.
		{"US", "", ""},
		{"US", "XX", ""},
		{"United States", "", ""},
		{"CA", "", ""},
		{"AU", "", ""},
		{"BR", "", ""},
		{"MX", "", ""},
		{"RU", "MOW", ""},
		{"", "CA", ""},
		{"Atlantis", "", ""},
		{"ZZ", "", ""},
	}
	for _, c := range cases {
		if got := TimezoneFor(c.country, c.province); got != c.want {
			t.Errorf("TimezoneFor(%q, %q) = %q, want %q", c.country, c.province, got, c.want)
		}
	}
}

// Every zone in the tables must load, or a customer would silently fall
// back to the shop's zone.
func TestEveryDerivedZoneLoads(t *testing.T) {
	var zones []string
	for _, z := range countryZones {
		zones = append(zones, z)
	}
	for _, m := range provinceZones {
		for _, z := range m {
			zones = append(zones, z)
		}
	}
	for _, z := range zones {
		if _, err := time.LoadLocation(z); err != nil {
			t.Errorf("%s: %v", z, err)
		}
	}
	for name, code := range countryNames {
		if _, single := countryZones[code]; !single {
			if _, multi := provinceZones[code]; !multi {
				t.Errorf("country name %q maps to %s, which has no zone table", name, code)
			}
		}
	}
}

func TestValidTimezone(t *testing.T) {
	for name, want := range map[string]bool{
		"Asia/Shanghai": true, "America/New_York": true, "UTC": true,
		"": false, "Local": false, "Mars/Olympus": false, "asia shanghai": false, "../../etc/passwd": false,
	} {
		if got := ValidTimezone(name); got != want {
			t.Errorf("ValidTimezone(%q) = %v, want %v", name, got, want)
		}
	}
	a, _ := Location("Asia/Tokyo")
	b, _ := Location("Asia/Tokyo")
	if a != b {
		t.Error("Location does not cache")
	}
}
