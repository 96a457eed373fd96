package shops

// Timezones offered in Settings: the zones Shopify lets a store choose,
// by IANA name.
func Timezones() []string { return timezones }

var timezones = []string{
	"Pacific/Midway", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Tijuana",
	"America/Phoenix", "America/Denver", "America/Chihuahua", "America/Mazatlan", "America/Chicago",
	"America/Regina", "America/Mexico_City", "America/Monterrey", "America/Guatemala", "America/New_York",
	"America/Indiana/Indianapolis", "America/Bogota", "America/Lima", "America/Halifax", "America/Caracas",
	"America/La_Paz", "America/Santiago", "America/St_Johns", "America/Sao_Paulo", "America/Argentina/Buenos_Aires",
	"America/Montevideo", "America/Godthab", "Atlantic/South_Georgia", "Atlantic/Azores", "Atlantic/Cape_Verde",
	"Africa/Casablanca", "Europe/Dublin", "Europe/Lisbon", "Europe/London", "Africa/Monrovia", "UTC",
	"Europe/Amsterdam", "Europe/Belgrade", "Europe/Berlin", "Europe/Zurich", "Europe/Bratislava",
	"Europe/Brussels", "Europe/Budapest", "Europe/Copenhagen", "Europe/Ljubljana", "Europe/Madrid",
	"Europe/Paris", "Europe/Prague", "Europe/Rome", "Europe/Sarajevo", "Europe/Skopje", "Europe/Stockholm",
	"Europe/Vienna", "Europe/Warsaw", "Africa/Algiers", "Europe/Zagreb", "Europe/Athens", "Europe/Bucharest",
	"Africa/Cairo", "Africa/Harare", "Europe/Helsinki", "Asia/Jerusalem", "Europe/Kaliningrad",
	"Europe/Kiev", "Africa/Johannesburg", "Europe/Riga", "Europe/Sofia", "Europe/Tallinn", "Europe/Vilnius",
	"Asia/Baghdad", "Europe/Istanbul", "Asia/Kuwait", "Europe/Minsk", "Europe/Moscow", "Africa/Nairobi",
	"Asia/Riyadh", "Europe/Volgograd", "Asia/Tehran", "Asia/Muscat", "Asia/Baku", "Europe/Samara",
	"Asia/Tbilisi", "Asia/Yerevan", "Asia/Kabul", "Asia/Yekaterinburg", "Asia/Karachi", "Asia/Tashkent",
	"Asia/Kolkata", "Asia/Colombo", "Asia/Kathmandu", "Asia/Almaty", "Asia/Dhaka", "Asia/Urumqi",
	"Asia/Rangoon", "Asia/Bangkok", "Asia/Jakarta", "Asia/Krasnoyarsk", "Asia/Novosibirsk", "Asia/Shanghai",
	"Asia/Chongqing", "Asia/Hong_Kong", "Asia/Irkutsk", "Asia/Kuala_Lumpur", "Australia/Perth",
	"Asia/Singapore", "Asia/Taipei", "Asia/Ulaanbaatar", "Asia/Tokyo", "Asia/Seoul", "Asia/Yakutsk",
	"Australia/Adelaide", "Australia/Darwin", "Australia/Brisbane", "Australia/Melbourne", "Pacific/Guam",
	"Australia/Hobart", "Pacific/Port_Moresby", "Australia/Sydney", "Asia/Vladivostok", "Asia/Magadan",
	"Pacific/Noumea", "Pacific/Guadalcanal", "Asia/Srednekolymsk", "Pacific/Auckland", "Pacific/Fiji",
	"Asia/Kamchatka", "Pacific/Majuro", "Pacific/Chatham", "Pacific/Tongatapu", "Pacific/Apia",
	"Pacific/Fakaofo",
}
