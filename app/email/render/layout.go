package render

// The email shell: table-based, 600 px wide, inline styles, one small
// media query that stacks columns on phones (clients without media query
// support show the desktop layout, which still fits), and Outlook
// conditional comments (a fixed-width ghost table and 96 dpi settings).
// It is static text: nothing here goes through html/template, so the
// conditional comments reach the recipient intact.

func layoutHead(locale string) string {
	return `<!DOCTYPE html>
<html lang="` + locale + `" xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="x-apple-disable-message-reformatting">
<title>`
}

const layoutHead2 = `</title>
<!--[if mso]>
<noscript><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml></noscript>
<style>table,td,h1,h2,p,a{font-family:Arial,'Microsoft YaHei',sans-serif !important;}</style>
<![endif]-->
<style>
@media only screen and (max-width:620px){.cw-container{width:100% !important;}.cw-col{display:block !important;width:100% !important;}.cw-pad{padding-left:16px !important;padding-right:16px !important;}}
</style>
</head>
<body style="margin:0;padding:0;background-color:#f4f4f5;">
<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;">`

const layoutBodyStart = `</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f5;">
<tr><td align="center" style="padding:24px 8px;">
<!--[if mso]><table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" align="center"><tr><td><![endif]-->
<table role="presentation" class="cw-container" width="600" cellpadding="0" cellspacing="0" border="0" style="width:600px;max-width:600px;background-color:#ffffff;border-radius:8px;">
`

const layoutBodyEnd = `</table>
<!--[if mso]></td></tr></table><![endif]-->
</td></tr>
</table>
</body>
</html>
`

// messages are the words the layout itself writes, per locale.
type messages struct {
	unsubscribe, why, discountLabel, qty, shopNow, backToCart, colon string
}

var locales = map[string]*messages{
	LocaleEN: {
		unsubscribe:   "Unsubscribe",
		why:           "You're receiving this email because you signed up for news and offers from {{ shop_name }}.",
		discountLabel: "Your code:",
		qty:           "Qty",
		shopNow:       "Shop now",
		backToCart:    "Return to your cart",
		colon:         ": ",
	},
	LocaleZH: {
		unsubscribe:   "退订",
		why:           "您收到这封邮件，是因为您订阅了 {{ shop_name }} 的最新消息和优惠。",
		discountLabel: "您的优惠码：",
		qty:           "数量",
		shopNow:       "立即选购",
		backToCart:    "返回购物车",
		colon:         "：",
	},
}
