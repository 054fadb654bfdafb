describe('jest wiring', () => {
  it('runs TypeScript tests', () => {
    const n: number = 1 + 1;
    expect(n).toBe(2);
  });
});
