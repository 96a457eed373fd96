package customers

import (
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // zones load even on hosts without /usr/share/zoneinfo
)

// TimezoneFor derives a recipient's IANA timezone from an address: a
// country (ISO 3166-1 alpha-2 code, or its English name as an import may
// carry it) and a province/state code (Shopify's province_code). A country
// with one zone maps directly; one spanning several maps by province where
// the province is known, else "" — the shop's zone is used then, rather
// than guessing a Californian into New York.
func TimezoneFor(country, province string) string {
	code := countryCode(country)
	if code == "" {
		return ""
	}
	if byProv, ok := provinceZones[code]; ok {
		if z, ok := byProv[strings.ToUpper(strings.TrimSpace(province))]; ok {
			return z
		}
		if z, ok := byProv[""]; ok { // a country whose provinces mostly share one zone
			return z
		}
		return ""
	}
	return countryZones[code]
}

// ValidTimezone reports whether name is an IANA zone this binary can load
// ("" and "Local" are not: they mean nothing about the recipient).
func ValidTimezone(name string) bool {
	if name == "" || name == "Local" || strings.ContainsAny(name, " \t") {
		return false
	}
	_, ok := Location(name)
	return ok
}

var locations sync.Map // name → *time.Location

// Location loads an IANA zone once per process: time.LoadLocation reads
// and parses the zone file on every call, and the flow engine asks for a
// zone per run.
func Location(name string) (*time.Location, bool) {
	if name == "" {
		return nil, false
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), true
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	locations.Store(name, l)
	return l, true
}

// countryCode turns an ISO code or an English country name into the code.
func countryCode(country string) string {
	c := strings.TrimSpace(country)
	if len(c) == 2 {
		if c = strings.ToUpper(c); c == "UK" { // common, though not ISO
			return "GB"
		}
		return c
	}
	n := strings.ToLower(c)
	n = strings.TrimPrefix(n, "the ")
	n = strings.NewReplacer(".", "", ",", "", "  ", " ").Replace(n)
	return countryNames[n]
}

// countryZones are the countries with one zone (or one zone where nearly
// everyone lives: Portugal's islands, Chile's Easter Island and Ecuador's
// Galápagos are small next to the mainland).
var countryZones = map[string]string{
	// European Union
	"AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "HR": "Europe/Zagreb",
	"CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
	"FI": "Europe/Helsinki", "FR": "Europe/Paris", "DE": "Europe/Berlin", "GR": "Europe/Athens",
	"HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome", "LV": "Europe/Riga",
	"LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
	"PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "SK": "Europe/Bratislava",
	"SI": "Europe/Ljubljana", "SE": "Europe/Stockholm",
	// Rest of Europe
	"GB": "Europe/London", "IS": "Atlantic/Reykjavik", "NO": "Europe/Oslo", "CH": "Europe/Zurich",
	"LI": "Europe/Vaduz", "MC": "Europe/Monaco", "AD": "Europe/Andorra", "SM": "Europe/San_Marino",
	"VA": "Europe/Vatican", "RS": "Europe/Belgrade", "BA": "Europe/Sarajevo", "ME": "Europe/Podgorica",
	"MK": "Europe/Skopje", "AL": "Europe/Tirane", "MD": "Europe/Chisinau", "UA": "Europe/Kiev",
	"BY": "Europe/Minsk", "TR": "Europe/Istanbul", "GI": "Europe/Gibraltar", "FO": "Atlantic/Faroe",
	"JE": "Europe/Jersey", "GG": "Europe/Guernsey", "IM": "Europe/Isle_of_Man", "GE": "Asia/Tbilisi",
	"AM": "Asia/Yerevan", "AZ": "Asia/Baku",
	// Asia and the Middle East
	"CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "MO": "Asia/Macau", "TW": "Asia/Taipei",
	"JP": "Asia/Tokyo", "KR": "Asia/Seoul", "SG": "Asia/Singapore", "IN": "Asia/Kolkata",
	"PK": "Asia/Karachi", "BD": "Asia/Dhaka", "LK": "Asia/Colombo", "NP": "Asia/Kathmandu",
	"TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "PH": "Asia/Manila", "MY": "Asia/Kuala_Lumpur",
	"KH": "Asia/Phnom_Penh", "MM": "Asia/Yangon", "BN": "Asia/Brunei", "IL": "Asia/Jerusalem",
	"AE": "Asia/Dubai", "SA": "Asia/Riyadh", "QA": "Asia/Qatar", "KW": "Asia/Kuwait",
	"BH": "Asia/Bahrain", "OM": "Asia/Muscat", "JO": "Asia/Amman", "LB": "Asia/Beirut",
	// Oceania
	"NZ": "Pacific/Auckland", "FJ": "Pacific/Fiji",
	// Africa
	"ZA": "Africa/Johannesburg", "NG": "Africa/Lagos", "KE": "Africa/Nairobi", "EG": "Africa/Cairo",
	"MA": "Africa/Casablanca", "GH": "Africa/Accra", "TN": "Africa/Tunis", "MU": "Indian/Mauritius",
	// The Americas
	"AR": "America/Argentina/Buenos_Aires", "CL": "America/Santiago", "CO": "America/Bogota",
	"PE": "America/Lima", "UY": "America/Montevideo", "VE": "America/Caracas", "CR": "America/Costa_Rica",
	"PA": "America/Panama", "DO": "America/Santo_Domingo", "JM": "America/Jamaica",
	"GT": "America/Guatemala", "PR": "America/Puerto_Rico", "TT": "America/Port_of_Spain",
	"EC": "America/Guayaquil",
}

// provinceZones are countries spanning several zones, by Shopify's
// province codes. The "" entry is the zone of a country whose other
// provinces all share it (Spain's mainland, not the Canaries).
var provinceZones = map[string]map[string]string{
	"US": {
		"AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
		"CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
		"DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
		"ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
		"KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
		"MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
		"MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
		"NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
		"NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
		"OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
		"SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
		"UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
		"WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
		"PR": "America/Puerto_Rico", "GU": "Pacific/Guam", "VI": "America/St_Thomas", "AS": "Pacific/Pago_Pago",
		"MP": "Pacific/Saipan",
	},
	"CA": {
		"AB": "America/Edmonton", "BC": "America/Vancouver", "MB": "America/Winnipeg", "NB": "America/Moncton",
		"NL": "America/St_Johns", "NS": "America/Halifax", "NT": "America/Yellowknife", "NU": "America/Iqaluit",
		"ON": "America/Toronto", "PE": "America/Halifax", "QC": "America/Toronto", "SK": "America/Regina",
		"YT": "America/Whitehorse",
	},
	"AU": {
		"ACT": "Australia/Sydney", "NSW": "Australia/Sydney", "NT": "Australia/Darwin", "QLD": "Australia/Brisbane",
		"SA": "Australia/Adelaide", "TAS": "Australia/Hobart", "VIC": "Australia/Melbourne", "WA": "Australia/Perth",
	},
	"BR": {
		"AC": "America/Rio_Branco", "AL": "America/Maceio", "AP": "America/Belem", "AM": "America/Manaus",
		"BA": "America/Bahia", "CE": "America/Fortaleza", "DF": "America/Sao_Paulo", "ES": "America/Sao_Paulo",
		"GO": "America/Sao_Paulo", "MA": "America/Fortaleza", "MT": "America/Cuiaba", "MS": "America/Campo_Grande",
		"MG": "America/Sao_Paulo", "PA": "America/Belem", "PB": "America/Fortaleza", "PR": "America/Sao_Paulo",
		"PE": "America/Recife", "PI": "America/Fortaleza", "RJ": "America/Sao_Paulo", "RN": "America/Fortaleza",
		"RS": "America/Sao_Paulo", "RO": "America/Porto_Velho", "RR": "America/Boa_Vista", "SC": "America/Sao_Paulo",
		"SP": "America/Sao_Paulo", "SE": "America/Maceio", "TO": "America/Araguaina",
	},
	"MX": {
		"AGS": "America/Mexico_City", "BC": "America/Tijuana", "BCS": "America/Mazatlan", "CAMP": "America/Merida",
		"CHIS": "America/Mexico_City", "CHIH": "America/Chihuahua", "COAH": "America/Monterrey", "COL": "America/Mexico_City",
		"DF": "America/Mexico_City", "CDMX": "America/Mexico_City", "DGO": "America/Monterrey", "GTO": "America/Mexico_City",
		"GRO": "America/Mexico_City", "HGO": "America/Mexico_City", "JAL": "America/Mexico_City", "MEX": "America/Mexico_City",
		"MICH": "America/Mexico_City", "MOR": "America/Mexico_City", "NAY": "America/Mazatlan", "NL": "America/Monterrey",
		"OAX": "America/Mexico_City", "PUE": "America/Mexico_City", "QRO": "America/Mexico_City", "Q ROO": "America/Cancun",
		"SLP": "America/Mexico_City", "SIN": "America/Mazatlan", "SON": "America/Hermosillo", "TAB": "America/Mexico_City",
		"TAMPS": "America/Monterrey", "TLAX": "America/Mexico_City", "VER": "America/Mexico_City", "YUC": "America/Merida",
		"ZAC": "America/Mexico_City",
	},
	"ES": {"": "Europe/Madrid", "GC": "Atlantic/Canary", "TF": "Atlantic/Canary"},
	// Russia, Indonesia, Kazakhstan and others span zones and have no
	// province table here: unknown, the shop's zone applies.
	"RU": {}, "ID": {}, "KZ": {}, "MN": {}, "CD": {},
}

// countryNames maps English names (lower case, as imports carry them) to codes.
var countryNames = map[string]string{
	"austria": "AT", "belgium": "BE", "bulgaria": "BG", "croatia": "HR", "cyprus": "CY", "czechia": "CZ",
	"czech republic": "CZ", "denmark": "DK", "estonia": "EE", "finland": "FI", "france": "FR", "germany": "DE",
	"greece": "GR", "hungary": "HU", "ireland": "IE", "italy": "IT", "latvia": "LV", "lithuania": "LT",
	"luxembourg": "LU", "malta": "MT", "netherlands": "NL", "holland": "NL", "poland": "PL", "portugal": "PT",
	"romania": "RO", "slovakia": "SK", "slovenia": "SI", "spain": "ES", "sweden": "SE",
	"united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
	"northern ireland": "GB", "iceland": "IS", "norway": "NO", "switzerland": "CH", "liechtenstein": "LI",
	"monaco": "MC", "andorra": "AD", "san marino": "SM", "vatican city": "VA", "serbia": "RS",
	"bosnia and herzegovina": "BA", "montenegro": "ME", "north macedonia": "MK", "albania": "AL", "moldova": "MD",
	"ukraine": "UA", "belarus": "BY", "turkey": "TR", "türkiye": "TR", "gibraltar": "GI", "faroe islands": "FO",
	"jersey": "JE", "guernsey": "GG", "isle of man": "IM", "georgia": "GE", "armenia": "AM", "azerbaijan": "AZ",
	"china": "CN", "hong kong": "HK", "hong kong sar": "HK", "macau": "MO", "macao": "MO", "taiwan": "TW",
	"japan": "JP", "south korea": "KR", "korea": "KR", "republic of korea": "KR", "korea republic of": "KR",
	"singapore": "SG", "india": "IN", "pakistan": "PK", "bangladesh": "BD", "sri lanka": "LK", "nepal": "NP",
	"thailand": "TH", "vietnam": "VN", "viet nam": "VN", "philippines": "PH", "malaysia": "MY", "cambodia": "KH",
	"myanmar": "MM", "brunei": "BN", "israel": "IL", "united arab emirates": "AE", "uae": "AE",
	"saudi arabia": "SA", "qatar": "QA", "kuwait": "KW", "bahrain": "BH", "oman": "OM", "jordan": "JO",
	"lebanon": "LB", "new zealand": "NZ", "fiji": "FJ", "south africa": "ZA", "nigeria": "NG", "kenya": "KE",
	"egypt": "EG", "morocco": "MA", "ghana": "GH", "tunisia": "TN", "mauritius": "MU", "argentina": "AR",
	"chile": "CL", "colombia": "CO", "peru": "PE", "uruguay": "UY", "venezuela": "VE", "costa rica": "CR",
	"panama": "PA", "dominican republic": "DO", "jamaica": "JM", "guatemala": "GT", "puerto rico": "PR",
	"trinidad and tobago": "TT", "ecuador": "EC",
	"united states": "US", "united states of america": "US", "usa": "US", "canada": "CA", "australia": "AU",
	"brazil": "BR", "brasil": "BR", "mexico": "MX", "méxico": "MX", "russia": "RU", "russian federation": "RU",
	"indonesia": "ID", "kazakhstan": "KZ", "mongolia": "MN",
}
