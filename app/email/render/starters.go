package render

import "sort"

// Starter keys: the templates a merchant can send as they are.
const (
	StarterWelcome           = "welcome"
	StarterAbandonedCart1    = "abandoned_cart_1" // reminder, day 1
	StarterAbandonedCart2    = "abandoned_cart_2" // selling fast, day 3
	StarterAbandonedCart3    = "abandoned_cart_3" // last chance + offer, day 5
	StarterBrowseAbandonment = "browse_abandonment"
	StarterOrderThankYou     = "order_thank_you"
	StarterReviewRequest     = "review_request"
	StarterWinBack           = "win_back"
	StarterRepeatPurchase    = "repeat_purchase"
	StarterSearchAbandonment = "search_abandonment"
	StarterSunset            = "sunset"
	StarterNewsletter        = "newsletter"
)

// StarterKeys lists every starter, in the order the gallery shows them.
func StarterKeys() []string {
	return []string{StarterWelcome, StarterAbandonedCart1, StarterAbandonedCart2, StarterAbandonedCart3,
		StarterBrowseAbandonment, StarterOrderThankYou, StarterReviewRequest, StarterWinBack,
		StarterRepeatPurchase, StarterSearchAbandonment, StarterSunset, StarterNewsletter}
}

// Starter returns a copy of the starter template for key and locale.
func Starter(key, locale string) (Template, bool) {
	byLocale, ok := starters[locale]
	if !ok {
		return Template{}, false
	}
	t, ok := byLocale[key]
	if !ok {
		return Template{}, false
	}
	t.Blocks = append([]Block(nil), t.Blocks...)
	return t, true
}

// StarterLocales lists the locales starters exist in.
func StarterLocales() []string {
	ls := make([]string, 0, len(starters))
	for l := range starters {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return ls
}

func logo() Block                    { return Block{Type: BlockLogo} }
func heading(s string) Block         { return Block{Type: BlockHeading, Text: s} }
func text(h string) Block            { return Block{Type: BlockText, HTML: h} }
func button(label, url string) Block { return Block{Type: BlockButton, Text: label, URL: url} }
func products(src Source, n int, title string) Block {
	return Block{Type: BlockProducts, Source: src, Count: n, Text: title}
}
func discount(label string) Block { return Block{Type: BlockDiscount, Text: label} }
func divider() Block              { return Block{Type: BlockDivider} }
func spacer(h int) Block          { return Block{Type: BlockSpacer, Height: h} }
func footer() Block               { return Block{Type: BlockFooter} }

var starters = map[string]map[string]Template{
	LocaleEN: {
		StarterWelcome: {Name: "Welcome", Locale: LocaleEN,
			Subject:   `Welcome to {{ shop_name }}, {{ first_name | default: "friend" }}!`,
			Preheader: "Thanks for joining us. Here's a little something to start with.",
			Blocks: []Block{logo(),
				heading(`Welcome, {{ first_name | default: "friend" }}!`),
				text(`<p>Thanks for signing up. We're really glad you're here.</p><p>Here's what to expect from us: new arrivals before anyone else, the occasional members-only offer, and no more than a couple of emails a week. No spam, ever.</p><p>To say thank you, here's a discount on your first order:</p>`),
				discount("Your welcome code:"),
				button("Start shopping", "{{ shop_url }}"),
				products(SourceBestSellers, 4, "Customer favourites"),
				footer()}},
		StarterAbandonedCart1: {Name: "Abandoned cart — reminder (day 1)", Locale: LocaleEN,
			Subject:   `{{ first_name | default: "Hi" }}, you left something behind`,
			Preheader: "Your cart is saved and waiting for you.",
			Blocks: []Block{logo(),
				heading("Did you forget something?"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>You left a few things in your cart at {{ shop_name }}. We've saved them for you, so you can pick up right where you left off.</p>`),
				products(SourceCart, 6, ""),
				text(`<p>Questions about sizing, shipping or returns? Just reply to this email, we're happy to help.</p>`),
				footer()}},
		StarterAbandonedCart2: {Name: "Abandoned cart — selling fast (day 3)", Locale: LocaleEN,
			Subject:   "The items in your cart are selling fast",
			Preheader: "We can't hold them for much longer.",
			Blocks: []Block{logo(),
				heading("Popular picks go quickly"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>The items in your cart are popular right now and stock is limited. Complete your order before they're gone.</p>`),
				products(SourceCart, 6, ""),
				products(SourceBoughtTogether, 2, "Often bought together"),
				footer()}},
		StarterAbandonedCart3: {Name: "Abandoned cart — last chance (day 5)", Locale: LocaleEN,
			Subject:   `Last chance: a little extra off your cart, {{ first_name | default: "friend" }}`,
			Preheader: "Your cart expires soon. Here's a code to help you decide.",
			Blocks: []Block{logo(),
				heading("Last chance to get your cart"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>We're about to release the items in your cart. To help you make up your mind, here's a discount just for you. Use it at checkout.</p>`),
				discount("Your code:"),
				products(SourceCart, 6, ""),
				footer()}},
		StarterBrowseAbandonment: {Name: "Browse abandonment", Locale: LocaleEN,
			Subject:   "Still thinking it over?",
			Preheader: "The products you looked at are still here.",
			Blocks: []Block{logo(),
				heading(`Still thinking it over, {{ first_name | default: "friend" }}?`),
				text(`<p>We noticed you were looking at a few things. Here they are again, in case you'd like another look.</p>`),
				products(SourceRecentlyViewed, 4, ""),
				button("Continue shopping", "{{ shop_url }}"),
				footer()}},
		StarterOrderThankYou: {Name: "Order thank-you with cross-sell", Locale: LocaleEN,
			Subject:   `Thank you for your order, {{ first_name | default: "friend" }}!`,
			Preheader: "We're getting your order ready.",
			Blocks: []Block{logo(),
				heading("Thank you for your order!"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>Thanks for shopping with {{ shop_name }}. We're getting your order ready and you'll get a shipping confirmation as soon as it's on its way.</p>`),
				divider(),
				products(SourceBoughtTogether, 4, "Goes well with your order"),
				footer()}},
		StarterReviewRequest: {Name: "Review request", Locale: LocaleEN,
			Subject:   "How are you getting on with your order?",
			Preheader: "Your review helps other shoppers, and takes a minute.",
			Blocks: []Block{logo(),
				heading(`How did we do, {{ first_name | default: "friend" }}?`),
				text(`<p>We hope you're enjoying your recent purchase from {{ shop_name }}.</p><p>Would you take a minute to tell us what you think? Honest reviews help other shoppers choose, and help us get better.</p>`),
				button("Write a review", "{{ shop_url }}"),
				footer()}},
		StarterWinBack: {Name: "Win-back", Locale: LocaleEN,
			Subject:   `We miss you, {{ first_name | default: "friend" }}`,
			Preheader: "New arrivals picked for you, and an offer to welcome you back.",
			Blocks: []Block{logo(),
				heading("It's been a while!"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>A lot has changed since your last visit. We've picked a few new arrivals we think you'll love, and here's a little something to welcome you back.</p>`),
				discount("Welcome-back code:"),
				products(SourceNewArrivals, 4, "New arrivals picked for you"),
				button("See what's new", "{{ shop_url }}"),
				footer()}},
		StarterRepeatPurchase: {Name: "Repeat purchase", Locale: LocaleEN,
			Subject:   "Time for a top-up?",
			Preheader: "Here's what's popular right now.",
			Blocks: []Block{logo(),
				heading(`Ready for more, {{ first_name | default: "friend" }}?`),
				text(`<p>It's been a little while since your last order. If you're running low, now's a good time to stock up, and here's what other customers are loving right now.</p>`),
				products(SourceBestSellers, 4, "Popular right now"),
				button("Shop again", "{{ shop_url }}"),
				footer()}},
		StarterSearchAbandonment: {Name: "Search abandonment", Locale: LocaleEN,
			Subject:   "Did you find what you were looking for?",
			Preheader: "A few ideas to help you find it.",
			Blocks: []Block{logo(),
				heading("Did you find what you were looking for?"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>You searched our store recently. If you didn't quite find it, these might help, or just reply and tell us what you need.</p>`),
				products(SourceRecentlyViewed, 4, "You looked at"),
				products(SourceBestSellers, 4, "Our best sellers"),
				footer()}},
		StarterSunset: {Name: "Sunset (should we stop writing?)", Locale: LocaleEN,
			Subject:   "Should we stop writing?",
			Preheader: "We'd rather ask than fill your inbox.",
			Blocks: []Block{logo(),
				heading("Should we stop writing?"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>We haven't seen you open our emails in a while, and we don't want to crowd your inbox.</p><p>If you'd still like to hear from {{ shop_name }}, click below and we'll keep you on the list. If not, no hard feelings: you can unsubscribe with the link at the bottom, or do nothing and we'll stop writing soon.</p>`),
				button("Yes, keep me subscribed", "{{ shop_url }}"),
				footer()}},
		StarterNewsletter: {Name: "Newsletter", Locale: LocaleEN,
			Subject:   "News from {{ shop_name }}",
			Preheader: "What's new this month.",
			Blocks: []Block{logo(),
				heading("What's new this month"),
				text(`<p>Hi {{ first_name | default: "there" }},</p><p>Here's a round-up of what's been happening at {{ shop_name }}: fresh arrivals, customer favourites and a few things we're excited about.</p>`),
				products(SourceNewArrivals, 4, "Just arrived"),
				spacer(16),
				products(SourceBestSellers, 2, "Customer favourites"),
				button("Visit the store", "{{ shop_url }}"),
				footer()}},
	},
	LocaleZH: {
		StarterWelcome: {Name: "欢迎邮件", Locale: LocaleZH,
			Subject:   `欢迎来到 {{ shop_name }}，{{ first_name | default: "朋友" }}！`,
			Preheader: "感谢您的加入，先送您一份见面礼。",
			Blocks: []Block{logo(),
				heading(`欢迎您，{{ first_name | default: "朋友" }}！`),
				text(`<p>感谢您的订阅，很高兴认识您。</p><p>接下来，您将第一时间收到新品上架的消息和会员专享优惠。我们每周最多发送一两封邮件，绝不打扰。</p><p>为表谢意，送您一份首单优惠：</p>`),
				discount("您的欢迎优惠码："),
				button("开始选购", "{{ shop_url }}"),
				products(SourceBestSellers, 4, "人气好物"),
				footer()}},
		StarterAbandonedCart1: {Name: "购物车提醒（第 1 天）", Locale: LocaleZH,
			Subject:   `{{ first_name | default: "您好" }}，您的购物车里还有商品`,
			Preheader: "我们已为您保存了购物车。",
			Blocks: []Block{logo(),
				heading("是不是忘了什么？"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>您在 {{ shop_name }} 的购物车里还有几件商品。我们已为您保存，随时可以继续结账。</p>`),
				products(SourceCart, 6, ""),
				text(`<p>对尺码、配送或退换货有疑问？直接回复这封邮件，我们很乐意为您解答。</p>`),
				footer()}},
		StarterAbandonedCart2: {Name: "购物车提醒：热卖中（第 3 天）", Locale: LocaleZH,
			Subject:   "您购物车里的商品正在热卖",
			Preheader: "库存有限，我们无法为您保留太久。",
			Blocks: []Block{logo(),
				heading("热门商品，手慢无"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>您购物车里的商品最近很受欢迎，库存有限。趁还有货，尽快完成下单吧。</p>`),
				products(SourceCart, 6, ""),
				products(SourceBoughtTogether, 2, "常一起购买"),
				footer()}},
		StarterAbandonedCart3: {Name: "购物车提醒：最后机会（第 5 天）", Locale: LocaleZH,
			Subject:   `最后机会：为您的购物车送上专属优惠`,
			Preheader: "购物车即将过期，这份优惠码助您做决定。",
			Blocks: []Block{logo(),
				heading("购物车即将过期"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>您购物车里的商品很快将不再为您保留。为了帮您下定决心，我们为您准备了一份专属优惠，结账时使用即可。</p>`),
				discount("您的优惠码："),
				products(SourceCart, 6, ""),
				footer()}},
		StarterBrowseAbandonment: {Name: "浏览未购提醒", Locale: LocaleZH,
			Subject:   "还在考虑吗？",
			Preheader: "您看过的商品还在等您。",
			Blocks: []Block{logo(),
				heading(`{{ first_name | default: "您好" }}，还在考虑吗？`),
				text(`<p>我们注意到您浏览了几件商品，特地再为您展示一次，方便您再看看。</p>`),
				products(SourceRecentlyViewed, 4, ""),
				button("继续选购", "{{ shop_url }}"),
				footer()}},
		StarterOrderThankYou: {Name: "订单致谢与推荐", Locale: LocaleZH,
			Subject:   `感谢您的订单，{{ first_name | default: "朋友" }}！`,
			Preheader: "我们正在为您备货。",
			Blocks: []Block{logo(),
				heading("感谢您的订单！"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>感谢您在 {{ shop_name }} 购物。我们正在为您备货，发货后会第一时间通知您。</p>`),
				divider(),
				products(SourceBoughtTogether, 4, "与您的订单更配"),
				footer()}},
		StarterReviewRequest: {Name: "邀请评价", Locale: LocaleZH,
			Subject:   "您对这次购物还满意吗？",
			Preheader: "花一分钟写下评价，帮助更多顾客做选择。",
			Blocks: []Block{logo(),
				heading(`{{ first_name | default: "您好" }}，这次购物体验如何？`),
				text(`<p>希望您喜欢最近在 {{ shop_name }} 买到的商品。</p><p>能否花一分钟告诉我们您的感受？您真实的评价能帮助其他顾客做选择，也能帮助我们做得更好。</p>`),
				button("写评价", "{{ shop_url }}"),
				footer()}},
		StarterWinBack: {Name: "老客召回", Locale: LocaleZH,
			Subject:   `{{ first_name | default: "朋友" }}，好久不见，我们想您了`,
			Preheader: "为您精选了新品，还有一份回归礼。",
			Blocks: []Block{logo(),
				heading("好久不见！"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>自您上次光临以来，店里上了不少新品。我们为您精选了几件，相信您会喜欢，另外还准备了一份回归礼。</p>`),
				discount("回归专享优惠码："),
				products(SourceNewArrivals, 4, "为您精选的新品"),
				button("看看新品", "{{ shop_url }}"),
				footer()}},
		StarterRepeatPurchase: {Name: "复购提醒", Locale: LocaleZH,
			Subject:   "该补货了吗？",
			Preheader: "看看大家最近都在买什么。",
			Blocks: []Block{logo(),
				heading(`{{ first_name | default: "您好" }}，需要补货吗？`),
				text(`<p>距离您上次下单已经有一段时间了。如果快用完了，现在正是补货的好时机。也来看看其他顾客最近都在买什么吧。</p>`),
				products(SourceBestSellers, 4, "当下热卖"),
				button("再次选购", "{{ shop_url }}"),
				footer()}},
		StarterSearchAbandonment: {Name: "搜索未购提醒", Locale: LocaleZH,
			Subject:   "找到您想要的了吗？",
			Preheader: "这些推荐也许能帮到您。",
			Blocks: []Block{logo(),
				heading("找到您想要的了吗？"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>您最近在我们店里搜索过商品。如果还没找到合适的，不妨看看下面的推荐，或者直接回复邮件告诉我们您的需求。</p>`),
				products(SourceRecentlyViewed, 4, "您浏览过的商品"),
				products(SourceBestSellers, 4, "热销商品"),
				footer()}},
		StarterSunset: {Name: "订阅确认（是否继续接收）", Locale: LocaleZH,
			Subject:   "还要继续收到我们的邮件吗？",
			Preheader: "与其打扰您，不如先问问您。",
			Blocks: []Block{logo(),
				heading("还要继续收到我们的邮件吗？"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>您已经有一段时间没有打开我们的邮件了，我们不想打扰您。</p><p>如果您仍想收到 {{ shop_name }} 的消息，请点击下方按钮，我们会继续为您发送。如果不想再收到，也没关系：您可以点击邮件底部的退订链接，或者什么都不用做，我们很快就会停止发送。</p>`),
				button("是的，继续订阅", "{{ shop_url }}"),
				footer()}},
		StarterNewsletter: {Name: "新闻通讯", Locale: LocaleZH,
			Subject:   "{{ shop_name }} 本月新鲜事",
			Preheader: "本月上新与精选。",
			Blocks: []Block{logo(),
				heading("本月新鲜事"),
				text(`<p>{{ first_name | default: "您好" }}，</p><p>为您汇总 {{ shop_name }} 最近的动态：新品上架、顾客最爱，还有一些让我们兴奋的好消息。</p>`),
				products(SourceNewArrivals, 4, "新品上架"),
				spacer(16),
				products(SourceBestSellers, 2, "顾客最爱"),
				button("逛逛店铺", "{{ shop_url }}"),
				footer()}},
	},
}
