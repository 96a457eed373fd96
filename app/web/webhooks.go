package web

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// maxWebhookBody is far above any real Shopify payload; a larger body is
// refused before it is read into memory.
const maxWebhookBody = 1 << 20

// webhook receives every Shopify topic. The HMAC is checked over the raw
// bytes before anything is parsed or stored; the delivery is then stored and
// queued, and Shopify gets its 200 without waiting for the work.
func (s *server) webhook(c *gin.Context) {
	topic := c.GetHeader("X-Shopify-Topic")
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.Metrics.WebhooksReceived.WithLabelValues(topicLabel(topic), "rejected").Inc()
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": "webhook body is larger than 1 MiB"})
		return
	}
	if err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "could not read the request body"})
		return
	}
	if !shopify.VerifyWebhookHMAC(body, c.GetHeader("X-Shopify-Hmac-Sha256"), s.Config.ShopifyAPISecret) {
		s.Metrics.WebhooksReceived.WithLabelValues(topicLabel(topic), "rejected").Inc()
		s.Log.Warn("webhook with bad hmac", "topic", topic, "shop", c.GetHeader("X-Shopify-Shop-Domain"))
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "X-Shopify-Hmac-Sha256 does not match the body"})
		return
	}
	shop := c.GetHeader("X-Shopify-Shop-Domain")
	if !shopify.ValidShopDomain(shop) {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "X-Shopify-Shop-Domain must be a myshopify.com domain"})
		return
	}
	d := webhooks.Delivery{
		WebhookID:  c.GetHeader("X-Shopify-Webhook-Id"),
		Shop:       shop,
		Topic:      topic,
		EventID:    c.GetHeader("X-Shopify-Event-Id"),
		APIVersion: c.GetHeader("X-Shopify-API-Version"),
		Body:       body,
	}
	if t, err := time.Parse(time.RFC3339Nano, c.GetHeader("X-Shopify-Triggered-At")); err == nil {
		d.TriggeredAt = t
	}
	duplicate, err := s.Webhooks.Receive(c.Request.Context(), d)
	if errors.Is(err, webhooks.ErrRejectedBody) {
		// Recorded, never processable: a 2xx so Shopify stops retrying.
		s.Metrics.WebhooksReceived.WithLabelValues(topicLabel(topic), "rejected_body").Inc()
		s.Log.Warn("webhook body rejected", "topic", topic, "shop", shop, "webhook_id", d.WebhookID, "err", err)
		c.JSON(http.StatusOK, gin.H{"status": "rejected", "error": err.Error()})
		return
	}
	if errors.Is(err, webhooks.ErrInvalid) {
		s.Metrics.WebhooksReceived.WithLabelValues(topicLabel(topic), "rejected").Inc()
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	if err != nil {
		s.Log.Error("webhook store", "topic", topic, "shop", shop, "err", err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "could not store the webhook; Shopify will retry"})
		return
	}
	result := "accepted"
	if duplicate {
		result = "duplicate"
	}
	s.Metrics.WebhooksReceived.WithLabelValues(topicLabel(topic), result).Inc()
	c.JSON(http.StatusOK, gin.H{"status": result})
}

// topicLabel keeps the metric's label set bounded whatever a caller sends.
func topicLabel(topic string) string {
	for _, t := range append(webhooks.AppTopics, webhooks.ComplianceTopics...) {
		if t == topic {
			return t
		}
	}
	return "other"
}
