/*
 * The embedded price table: meter/prices.json linked into the binary as a
 * NUL-terminated string (meter_prices_builtin / _end), so `tollgate` runs
 * with no file beside it.  `pricing_file` replaces it at start-up.
 */
	.section .rodata
	.global meter_prices_builtin
	.type meter_prices_builtin, @object
	.balign 16
meter_prices_builtin:
	.incbin "meter/prices.json"
	.byte 0
	.global meter_prices_builtin_end
meter_prices_builtin_end:
	.section .note.GNU-stack,"",@progbits
