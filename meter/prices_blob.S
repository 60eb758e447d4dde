/*
 * The embedded price table: meter/prices.json linked into the binary as a
 * NUL-terminated string (meter_prices_builtin, meter_prices_builtin_len
 * bytes before the NUL), so `tollgate` runs
 * with no file beside it.  `pricing_file` replaces it at start-up.
 */
	.section .rodata
	.global meter_prices_builtin
	.type meter_prices_builtin, @object
	.balign 16
meter_prices_builtin:
	.incbin "meter/prices.json"
	.byte 0
meter_prices_builtin_end:
	.balign 8
	.global meter_prices_builtin_len
	.type meter_prices_builtin_len, @object
meter_prices_builtin_len:
	.quad meter_prices_builtin_end - meter_prices_builtin - 1
	.section .note.GNU-stack,"",@progbits
