// One streamed chat completion through the official openai SDK, printed
// as it arrives: the baseline tests/bench/chat times beside
// `cdt-chat --provider codex --text` against the same fake provider.
//
//	OPENAI_BASE_URL=... OPENAI_API_KEY=... node tests/bench/openai-chat.js PROMPT
const sdk = require(require('path').join(__dirname, '../node_modules/openai'));
const OpenAI = sdk.OpenAI || sdk.default || sdk;
const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL,
	apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
(async () => {
	const stream = await client.chat.completions.create({
		model: process.env.OPENAI_MODEL || 'gpt-4o-mini',
		messages: [{ role: 'user', content: process.argv[2] || 'hi' }],
		stream: true,
	});
	for await (const chunk of stream) {
		const d = chunk.choices[0] && chunk.choices[0].delta;
		if (d && d.content)
			process.stdout.write(d.content);
	}
	process.stdout.write('\n');
})().catch((e) => {
	console.error('openai-chat: ' + e.message);
	process.exit(1);
});
