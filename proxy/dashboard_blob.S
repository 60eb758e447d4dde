/*
 * The dashboard page: proxy/dashboard.html linked into the binary as a
 * NUL-terminated string (proxy_dashboard_html, proxy_dashboard_html_len
 * bytes before the NUL), so `tollgate` serves it with no file beside it.
 * Same shape as meter/prices_blob.S.
 */
	.section .rodata
	.global proxy_dashboard_html
	.type proxy_dashboard_html, @object
	.balign 16
proxy_dashboard_html:
	.incbin "proxy/dashboard.html"
	.byte 0
proxy_dashboard_html_end:
	.balign 8
	.global proxy_dashboard_html_len
	.type proxy_dashboard_html_len, @object
proxy_dashboard_html_len:
	.quad proxy_dashboard_html_end - proxy_dashboard_html - 1
	.section .note.GNU-stack,"",@progbits
