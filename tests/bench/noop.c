/* A program that does nothing, linked like a tool: the start-up baseline. */
int
main(void)
{
	return 0;
}
