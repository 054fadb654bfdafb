import { Test } from '@nestjs/testing';
import { ScaleSetClient } from './scaleset.client';
import { ScaleSetModule } from './scaleset.module';

describe('ScaleSetModule', () => {
  it('provides a ScaleSetClient built from the options, without any request', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScaleSetModule.forRoot({
          configUrl: 'https://github.com/my-org',
          auth: { kind: 'pat', token: 'ghp_PersonalAccessToken0123456789abcdef' },
          systemInfo: { subsystem: 'listener' },
          proxy: 'none',
          env: {},
        }),
      ],
    }).compile();
    const client = moduleRef.get(ScaleSetClient);
    expect(client).toBeInstanceOf(ScaleSetClient);
    expect(client.config.scope).toBe('organization');
    expect(JSON.parse(client.userAgent)).toMatchObject({ subsystem: 'listener' });
    await moduleRef.close();
  });

  it('fails at wiring time on an invalid config URL', async () => {
    await expect(
      Test.createTestingModule({
        imports: [
          ScaleSetModule.forRoot({
            configUrl: 'https://github.com/',
            auth: { kind: 'pat', token: 'x' },
            env: {},
          }),
        ],
      }).compile(),
    ).rejects.toThrow('invalid config URL');
  });
});
