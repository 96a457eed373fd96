// Stand-in for @shopify/web-pixels-extension in unit tests: register()
// hands the pixel's callback to the test, which then plays Shopify's part.
export function register(fn) {
  globalThis.__cartwheelPixel = fn;
}
