package reports

import "strings"

// Devices and mail clients a report splits opens and clicks by.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceUnknown = "unknown" // image proxies (Gmail, Yahoo) hide the device

	ClientAppleMail   = "Apple Mail"
	ClientGmail       = "Gmail"
	ClientOutlook     = "Outlook"
	ClientYahoo       = "Yahoo Mail"
	ClientThunderbird = "Thunderbird"
	ClientSamsung     = "Samsung Email"
	ClientWebmail     = "Web browser"
	ClientOther       = "Other"
)

// Device tells desktop, mobile and tablet apart from a User-Agent.
func Device(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case strings.Contains(l, "googleimageproxy"), strings.Contains(l, "yahoomailproxy"), strings.TrimSpace(l) == "":
		return DeviceUnknown
	case strings.Contains(l, "ipad"), strings.Contains(l, "tablet"),
		strings.Contains(l, "android") && !strings.Contains(l, "mobile"):
		return DeviceTablet
	case strings.Contains(l, "iphone"), strings.Contains(l, "ipod"), strings.Contains(l, "android"),
		strings.Contains(l, "mobile"), strings.Contains(l, "windows phone"):
		return DeviceMobile
	}
	return DeviceDesktop
}

// Client names the mail client that fetched an open pixel. Clicks come from
// the browser the link opened in, so only opens are split by client.
func Client(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case strings.Contains(l, "googleimageproxy"), strings.Contains(l, "gmail"):
		return ClientGmail
	case strings.Contains(l, "yahoomailproxy"), strings.Contains(l, "yahoo"):
		return ClientYahoo
	case strings.Contains(l, "outlook"), strings.Contains(l, "ms-office"), strings.Contains(l, "microsoft office"),
		strings.Contains(l, "msoffice"), strings.Contains(l, "windows-mail"):
		return ClientOutlook
	case strings.Contains(l, "thunderbird"):
		return ClientThunderbird
	case strings.Contains(l, "samsungbrowser"), strings.Contains(l, "samsung email"):
		return ClientSamsung
	case strings.Contains(l, "applewebkit") && (strings.Contains(l, "iphone") || strings.Contains(l, "ipad") || strings.Contains(l, "macintosh")) &&
		!strings.Contains(l, "safari") && !strings.Contains(l, "chrome") && !strings.Contains(l, "crios"):
		// Apple Mail renders with WebKit but, unlike Safari, doesn't name it.
		return ClientAppleMail
	case strings.Contains(l, "chrome"), strings.Contains(l, "firefox"), strings.Contains(l, "safari"), strings.Contains(l, "edg/"):
		return ClientWebmail
	}
	return ClientOther
}
